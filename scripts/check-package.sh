#!/usr/bin/env bash
# The package as a user meets it. Stages the release (scripts/stage-release.js: the main package
# and the linux-x64-gnu package, with the binary this checkout built), packs both, and checks:
#   - publint and are-the-types-wrong on the main tarball, both clean;
#   - `npm publish --dry-run` of each staged package publishes the very tarball tested below;
#   - in fresh projects with no Rust on PATH and install scripts off: the README's first sample
#     (verbatim, on every Node in $BUN_SOCKETS_NODES), the polyfill, the ESM entry, the typings
#     under tsc with node16, nodenext and bundler resolution, bun-types merging and compatibility,
#     and each README recipe: Jest (CommonJS, ESM), Vitest, node --test, a project's own `bun`;
#   - the load errors: no binary installed, a binary that fails to load, one that needs a newer
#     glibc, and that a caught failed `import()` does not exit the process;
#   - the documented build-from-clone install (`npm install /path/to/clone`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
nodes=(${BUN_SOCKETS_NODES:-$(command -v node)})
step() { printf '\n== %s\n' "$*"; }

# PATH without any Rust toolchain.
no_rust_path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e cargo -e rustup | paste -sd: -)"
run() { env PATH="$no_rust_path" "$@"; }
if run sh -c 'command -v cargo' >/dev/null; then
  echo "cargo still on PATH" >&2
  exit 1
fi
quiet_install() { run npm install --ignore-scripts --no-audit --no-fund --silent "$@"; }

step "stage and pack the release"
cd "$root"
node scripts/stage-release.js "$work/release" --only linux-x64-gnu >/dev/null
main_dir="$work/release/bun-sockets"
platform_dir="$work/release/npm/linux-x64-gnu"
pack() { (cd "$1" && npm pack --json --ignore-scripts --pack-destination "$work" | node -e '
  const [p] = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(p.filename + " " + p.integrity)'); }
read -r main_tgz main_integrity < <(pack "$main_dir")
read -r platform_tgz platform_integrity < <(pack "$platform_dir")
main_tgz="$work/$main_tgz"
platform_tgz="$work/$platform_tgz"
echo "main:     $(basename "$main_tgz") ($(du -k "$main_tgz" | cut -f1) KiB)"
echo "platform: $(basename "$platform_tgz") ($(du -k "$platform_tgz" | cut -f1) KiB)"
node -e '
  const m = require(process.argv[1]), targets = require(process.argv[2]).napi.targets
  const deps = Object.keys(m.optionalDependencies || {})
  if (deps.length !== targets.length || !deps.includes("bun-sockets-linux-x64-gnu")) throw new Error("optionalDependencies: " + deps)
  console.log("optionalDependencies: " + deps.join(", "))' "$main_dir/package.json" "$root/package.json"
tar -tzf "$main_tgz" > "$work/main-files"
grep -qx 'package/LICENSE' "$work/main-files" || { echo "no LICENSE in the tarball" >&2; exit 1; }
! grep -q '\.node$' "$work/main-files" || { echo "a binary in the main tarball" >&2; exit 1; }
bash "$root/scripts/check-glibc.sh" "$platform_dir"/*.node 2.17

step "publint and are-the-types-wrong"
"$root/node_modules/.bin/publint" run "$main_tgz" --strict
"$root/node_modules/.bin/attw" "$main_tgz" --format ascii --no-color

step "npm publish --dry-run publishes what is tested here"
for pair in "$main_dir $main_integrity" "$platform_dir $platform_integrity"; do
  set -- $pair
  published="$(cd "$1" && npm publish --dry-run --json --ignore-scripts 2>/dev/null | node -e '
    const out = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log((out.integrity ? out : Object.values(out)[0]).integrity)')"
  if [ "$published" != "$2" ]; then
    echo "npm publish --dry-run in $1 would publish $published, not the tested $2" >&2
    exit 1
  fi
  echo "$(basename "$1"): $published"
done

step "install both tarballs in a fresh project (no Rust, no install scripts)"
app="$work/app"
mkdir "$app"
cd "$app"
run npm init -y >/dev/null
quiet_install "$main_tgz" "$platform_tgz"

step "the README's first sample, verbatim, on each Node"
node "$root/scripts/readme-blocks.js" check
node "$root/scripts/readme-blocks.js" extract hello.mjs > hello.mjs
for n in "${nodes[@]}"; do
  out="$(run timeout 20 "$n" hello.mjs)"
  [ "$out" = "echoed: hello" ] || { echo "first sample on $("$n" --version) printed: $out" >&2; exit 1; }
  echo "node $("$n" --version): $out (exited by itself)"
done

step "polyfill (CommonJS) and ESM entry"
cat > polyfill.cjs <<'JS'
require('bun-sockets/polyfill')
const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data(socket, data) { socket.write(data) } } })
Bun.connect({
  hostname: '127.0.0.1',
  port: server.port,
  socket: {
    open(socket) { socket.write('ping') },
    data(socket, data) {
      if (String(data) !== 'ping') throw new Error(`echo returned ${data}`)
      console.log('polyfill echo: ok')
      socket.end()
      server.stop(true)
    },
  },
})
JS
run timeout 20 node polyfill.cjs
cat > esm.mjs <<'JS'
import Bun, { listen, connect, udpSocket, ArrayBufferSink } from 'bun-sockets'
import * as ns from 'bun-sockets'
for (const [name, fn] of Object.entries({ listen, connect, udpSocket, ArrayBufferSink })) {
  if (typeof fn !== 'function' || Bun[name] !== fn || ns[name] !== fn) throw new Error(`bad export ${name}`)
}
const server = listen({ hostname: '127.0.0.1', port: 0, socket: { data(s, d) { s.write(d) } } })
const reply = new Promise((resolve) => {
  connect({ hostname: '127.0.0.1', port: server.port, socket: { data: (s, d) => resolve([s, String(d)]) } })
    .then((socket) => socket.write('esm'))
})
const [client, text] = await reply
if (text !== 'esm') throw new Error('no echo')
client.end()
server.stop(true)
console.log('esm import: ok')
JS
run timeout 20 node esm.mjs

step "typings: tsc under node16, nodenext and bundler resolution"
dev_version() { node -p "require('$root/package.json').devDependencies['$1']"; }
quiet_install --no-save "typescript@$(dev_version typescript)" "@types/node@$(dev_version @types/node)" bun-types@1.4.4
cp -r "$root/scripts/package-check/types" types
for mode in "node16 node16" "nodenext nodenext" "preserve bundler"; do
  set -- $mode
  run npx tsc --strict --noEmit --skipLibCheck false --target es2022 --types node --module "$1" --moduleResolution "$2" types/*.mts types/*.cts
  echo "tsc --module $1 --moduleResolution $2: ok"
done
# With bun-types present the polyfill's global merges with it (bun-types needs skipLibCheck).
cp -r "$root/scripts/package-check/bun-types" merged
run npx tsc -p merged
echo "polyfill typings merged with bun-types: ok"
# Each export against bun-types@1.4.4's `typeof Bun.…` (types-test/bun-types/), the package's
# typings unchanged.
mkdir compat
cp "$root"/types-test/bun-types/{tsconfig.json,compat.ts,udp.ts} compat/
run npx tsc --strict --noEmit -p compat
echo "typings vs bun-types@1.4.4: ok"

step "recipes: Jest (CommonJS and ESM), Vitest, node --test, a project's own bun module"
quiet_install --no-save jest@30 vitest@3 vite@7
recipe() { rm -rf "recipe-$1" && cp -r "$root/examples/$1" "recipe-$1" && cd "recipe-$1"; }
(recipe jest && run timeout 120 npx jest --ci)
(recipe jest-esm && run env NODE_OPTIONS=--experimental-vm-modules timeout 120 npx jest --ci)
(recipe vitest && run timeout 120 npx vitest run)
(recipe node-test && run timeout 120 node --import ./bun-hook.mjs --test echo.test.mjs)
(recipe own-bun-module && run timeout 120 npx jest --ci)

step "load errors"
# Each in its own project beside the app, whose node_modules must not be in reach.
cd "$work"
expect_error() { # dir, code, text that the message must contain
  (cd "$1" && run timeout 20 node -e '
    try { require("bun-sockets"); throw new Error("loaded") } catch (err) {
      const [code, text] = process.argv.slice(1)
      if (err.code !== code || !err.message.includes(text)) { console.error(err); process.exit(1) }
      console.log(`${code}: ${err.message.split("\n").slice(0, 3).join(" / ")}`)
    }' "$2" "$3")
}
# No binary installed: the optional dependency is not on the registry here, as if npm skipped it.
mkdir nobinary && (cd nobinary && run npm init -y >/dev/null && quiet_install "$main_tgz")
expect_error nobinary ERR_BUN_SOCKETS_NO_BINARY 'no native binary for linux-x64-gnu'
expect_error nobinary ERR_BUN_SOCKETS_NO_BINARY 'git clone https://github.com/'
for n in "${nodes[@]}"; do
  # Node 18/20 printed "caught", then still exited with 1 when index.mjs imported index.js.
  status=0
  out="$(cd nobinary && run timeout 20 "$n" --input-type=module -e 'try { await import("bun-sockets") } catch {} console.log("caught")' 2>&1)" || status=$?
  if [ "$status" != 0 ] || [ "$out" != caught ]; then
    echo "a caught failed import() on $("$n" --version): exit $status, output: $out" >&2
    exit 1
  fi
  echo "node $("$n" --version): a failed import() is caught and the process goes on"
done
# A binary that is there but is not a loadable library.
fresh() { mkdir "$1" && (cd "$1" && run npm init -y >/dev/null && quiet_install "$main_tgz" "$platform_tgz"); }
fresh broken
echo 'not a library' > broken/node_modules/bun-sockets-linux-x64-gnu/bun-sockets.linux-x64-gnu.node
expect_error broken ERR_BUN_SOCKETS_LOAD_FAILED 'was found but failed to load'
# A binary that needs a newer glibc than this machine's: the same binary with its GLIBC_2.17
# requirement renamed GLIBC_2.99 (same length), which the dynamic loader then refuses.
fresh oldglibc
perl -pi -e 's/GLIBC_2\.17/GLIBC_2.99/g' oldglibc/node_modules/bun-sockets-linux-x64-gnu/bun-sockets.linux-x64-gnu.node
glibc="$(node -p 'process.report.getReport().header.glibcVersionRuntime')"
expect_error oldglibc ERR_BUN_SOCKETS_LOAD_FAILED "It needs glibc 2.99 or newer; this system has glibc $glibc."

step "build from a clone: npm install /path/to/clone"
mkdir "$work/fromclone" && cd "$work/fromclone" && run npm init -y >/dev/null
quiet_install "$root"
node "$root/scripts/readme-blocks.js" extract hello.mjs > hello.mjs
run timeout 20 node hello.mjs

echo
echo "package check: ok"
