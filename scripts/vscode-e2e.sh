#!/usr/bin/env bash
# Installs what the VS Code end-to-end test (tests/tests/vscode.rs) runs on: a real VS Code
# workbench (code-server 4.100.3 from npm, the last release for Node 20), a Python venv with
# Selenium to drive it in headless Chromium, and the extension's own node_modules.
#
# Everything lands in <target>/vscode-e2e (<target> being $CARGO_TARGET_DIR or the workspace's
# target/): cs/ (code-server), venv/ (selenium), rg-cache/. Cached: a second run checks and does
# nothing. Needs Node 20+ and npm, python3 with venv, the Debian packages libkrb5-dev (a native
# module's headers), ripgrep, chromium and chromium-driver (scripts/setup.sh installs them), and
# the npm registry and PyPI. Offline otherwise: code-server's ripgrep download is fed the system's
# rg, and node-gyp builds against the system Node's headers.
set -euo pipefail

say() { printf 'optidb vscode-e2e: %s\n' "$*" >&2; }

CODE_SERVER_VERSION=4.100.3
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
case $target in /*) ;; *) target=$repo/$target ;; esac
dir=$target/vscode-e2e

command -v node >/dev/null && command -v npm >/dev/null || { say "node and npm are needed (Node 20+)"; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { say "Node $node_major is too old for code-server $CODE_SERVER_VERSION (needs 20)"; exit 1; }
for b in rg chromium chromedriver; do
  command -v "$b" >/dev/null || { say "$b is missing (scripts/setup.sh installs it)"; exit 1; }
done
mkdir -p "$dir"

# 1. code-server. Its @vscode/ripgrep postinstall downloads rg from GitHub unless it finds the
#    release tarball in its cache ($TMPDIR/vscode-ripgrep-cache-<version>/): give it the system's.
installed=$(node -p "try{require('$dir/cs/node_modules/code-server/package.json').version}catch(e){''}")
if [ "$installed" != "$CODE_SERVER_VERSION" ] || [ ! -x "$dir/cs/node_modules/.bin/code-server" ]; then
  say "installing code-server $CODE_SERVER_VERSION into $dir/cs (about a minute)"
  rm -rf "$dir/cs" "$dir/rg-cache"
  mkdir -p "$dir/cs" "$dir/rg-cache/vscode-ripgrep-cache-1.15.11"
  tar czf "$dir/rg-cache/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" \
    -C "$(dirname "$(command -v rg)")" rg
  printf '{"name":"optidb-vscode-e2e","private":true}\n' > "$dir/cs/package.json"
  nodedir=()
  [ -f /usr/include/node/node.h ] && nodedir=(npm_config_nodedir=/usr)
  (cd "$dir/cs" && env "${nodedir[@]}" npm_config_unsafe_perm=true npm_config_yes=true \
     TMPDIR="$dir/rg-cache" JOBS=1 npm install --no-audit --no-fund --loglevel=error \
     "code-server@$CODE_SERVER_VERSION" >/dev/null)
fi

# 2. Selenium in a venv (Chromium and chromedriver are Debian's; Selenium never downloads one).
if ! "$dir/venv/bin/python" -c 'import selenium' 2>/dev/null; then
  say "installing selenium into $dir/venv"
  rm -rf "$dir/venv"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install -q --disable-pip-version-check selenium
fi

# 3. The extension's dependencies (vscode-languageclient, TypeScript, vsce to package it).
ext=$repo/editors/vscode
if [ ! -f "$ext/node_modules/.package-lock.json" ] || [ "$ext/package-lock.json" -nt "$ext/node_modules/.package-lock.json" ]; then
  say "installing the extension's node_modules"
  (cd "$ext" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

say "ready: $dir"
