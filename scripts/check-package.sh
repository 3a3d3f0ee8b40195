#!/usr/bin/env bash
# Packs bun-sockets and installs the tarball into a new empty project the way a user would:
# no install scripts, no Rust toolchain on PATH. Then runs there the polyfill over loopback,
# the ESM entry, the typings against bun-types under tsc --strict, and a Jest test that maps
# `bun` to the package (and must end by itself).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$root"
npm pack --silent --pack-destination "$work" >/dev/null
tarball="$(ls "$work"/bun-sockets-*.tgz)"
echo "packed $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"

# PATH without any Rust toolchain.
no_rust_path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e cargo -e rustup | paste -sd: -)"
app="$work/app"
mkdir "$app"
cd "$app"
run() { env PATH="$no_rust_path" "$@"; }
if run sh -c 'command -v cargo' >/dev/null; then
  echo "cargo still on PATH" >&2
  exit 1
fi
run npm init -y >/dev/null
run npm install --ignore-scripts --no-audit --no-fund --silent "$tarball"

cat > polyfill.cjs <<'JS'
require('bun-sockets/polyfill')
const server = Bun.listen({
  hostname: '127.0.0.1',
  port: 0,
  socket: { data(socket, data) { socket.write(data) } },
})
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
for (const [name, fn] of Object.entries({ listen, connect, udpSocket, ArrayBufferSink })) {
  if (typeof fn !== 'function' || Bun[name] !== fn) throw new Error(`bad export ${name}`)
}
const server = listen({ hostname: '127.0.0.1', port: 0, socket: { data(s, d) { s.write(d) } } })
const reply = new Promise((resolve) => {
  connect({ hostname: '127.0.0.1', port: server.port, socket: { data: (s, d) => resolve(String(d)) } })
    .then((socket) => socket.write('esm'))
})
if ((await reply) !== 'esm') throw new Error('no echo')
server.stop(true)
console.log('esm import: ok')
JS
run timeout 20 node esm.mjs

# The typings stand in for bun-types@1.4.4's (types-test/bun-types/). typescript and @types/node
# at the versions the repo's own type check uses. udp.ts reads a copy of index.d.ts with the UDP
# `error` handler spelled as bun-types declares it (the one intended difference; see compat.ts).
bun_types=bun-types@1.4.4
dev_version() { node -p "require('$root/package.json').devDependencies['$1']"; }
run npm install --ignore-scripts --no-audit --no-fund --silent --no-save "$bun_types" \
  "typescript@$(dev_version typescript)" "@types/node@$(dev_version @types/node)"
cp "$root"/types-test/bun-types/{tsconfig.json,compat.ts,udp.ts} .
mkdir patched
sed 's/error?(this: /error?(socket: /' node_modules/bun-sockets/index.d.ts > patched/index.d.ts
run npx tsc --strict --noEmit -p .
echo "typings vs $bun_types: ok"

# Jest through the `bun` mapping; the run must end by itself (no --forceExit).
run npm install --no-audit --no-fund --silent --no-save jest@30
cp "$root/examples/jest/echo-server.js" "$root/examples/jest/echo-server.test.js" "$root/examples/jest/jest.config.js" .
run timeout 120 npx jest --ci
echo "package check: ok"
