#!/usr/bin/env bash
# The VS Code extension end to end in a real VS Code: code-server (VS Code in
# the browser) on loopback with the packaged extension and the sidecar
# installed, driven by playwright-core in Debian's headless chromium. See
# editors/vscode/test/e2e/code-server.test.ts for what it checks.
#
# code-server is installed once into a cache folder outside the repository,
# keyed by its lockfile, so a second run does not install it again:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/mimir-test/code-server-<version>
# It is never a dependency of the extension itself.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
ext="$repo/editors/vscode"
spec="$ext/test/code-server"
version=$(node -p "require('$spec/package.json').dependencies['code-server']")

# code-server 4.100 is the newest that runs on Node 20.
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != 20 ]; then
  echo "code-server $version needs Node 20; this is $(node -v)" >&2
  exit 1
fi
for tool in rg chromium; do
  command -v "$tool" >/dev/null || { echo "the code-server test needs $tool (Debian: apt-get install ${tool/rg/ripgrep})" >&2; exit 1; }
done

# The .vsix users install: scripts/release's linux-x64 package, the
# extension with its sidecar in bin/ (scripts/test made it already).
[ "$(uname -m)" = x86_64 ] || { echo "the code-server test installs the linux-x64 .vsix and needs an x86_64 machine" >&2; exit 1; }
if [ -z "${MIMIR_DIST:-}" ]; then
  MIMIR_DIST="$repo/.build/dist"
  "$repo/scripts/release" --out "$MIMIR_DIST"
fi
vsix=$(ls "$MIMIR_DIST"/mimir-sidecar-linux-x64-*.vsix)

cache="${XDG_CACHE_HOME:-$HOME/.cache}/mimir-test/code-server-$version"
stamp="$cache/.installed"
want=$(sha256sum "$spec/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$cache/node_modules/.bin/code-server" ]; then
  [ -e /usr/include/krb5.h ] || { echo "installing code-server needs the Kerberos headers (Debian: apt-get install libkrb5-dev)" >&2; exit 1; }
  # Its native modules build against the system's Node headers (nodedir=/usr
  # below), so nothing is downloaded for them.
  [ -e /usr/include/node/node_version.h ] || { echo "installing code-server needs Node's headers in /usr/include/node (the nodejs package has them)" >&2; exit 1; }
  for tool in g++ make python3; do
    command -v "$tool" >/dev/null || { echo "installing code-server builds native modules and needs $tool" >&2; exit 1; }
  done
  echo "installing code-server $version into $cache (about a minute, once)"
  rm -rf "$cache"
  mkdir -p "$cache/tmp/vscode-ripgrep-cache-1.15.11" "$cache/tmp/rg"
  cp "$spec/package.json" "$spec/package-lock.json" "$cache/"
  # @vscode/ripgrep's postinstall downloads rg from GitHub unless its cache
  # has the tarball: give it Debian's rg.
  cp "$(command -v rg)" "$cache/tmp/rg/rg"
  tar czf "$cache/tmp/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$cache/tmp/rg" rg
  # yes: node-pty's postinstall runs npx node-gyp (a .npmrc with yes=false
  # makes npx refuse); nodedir: build the native modules against the
  # system's Node headers; unsafe-perm: code-server's postinstall insists
  # on it when run as root.
  if ! (cd "$cache" && TMPDIR="$cache/tmp" npm_config_yes=true npm_config_nodedir=/usr \
        timeout 600 npm ci --unsafe-perm --no-audit --no-fund --loglevel=error >"$cache/install.log" 2>&1); then
    tail -40 "$cache/install.log" >&2
    echo "installing code-server failed; the whole log is $cache/install.log" >&2
    exit 1
  fi
  rm -rf "$cache/tmp"
  echo "$want" >"$stamp"
fi

cd "$ext"
[ -x node_modules/.bin/tsx ] || npm ci --no-audit --no-fund --loglevel=error
mkdir -p test-artifacts
CODE_SERVER="$cache/node_modules/.bin/code-server" VSIX="$vsix" \
  node --import tsx --test --test-reporter=spec test/e2e/*.test.ts
