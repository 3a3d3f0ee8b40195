#!/usr/bin/env node
// The release build of the addon (`npm run build`, run by `npm install`) and the Rust tests
// (`node scripts/build.js test`), sharing one target directory so the tests reuse the build.
//
// On linux-x64 with cargo-zigbuild on PATH (CI and releases: .ci/run installs it with zig from
// PyPI), the addon is linked against glibc 2.17, as napi-rs's `--cross-compile` does, so it loads
// on every distribution since 2014. Without it, a plain build for this machine's glibc.
// BUN_SOCKETS_ZIG=0 forces the plain build.
'use strict'

const { spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')
const GLIBC_TARGET = 'x86_64-unknown-linux-gnu.2.17'

function found(command, args) {
  const r = spawnSync(command, args, { stdio: 'ignore' })
  return r.status === 0
}

function useZig() {
  if (process.env.BUN_SOCKETS_ZIG === '0') return false
  if (process.platform !== 'linux' || process.arch !== 'x64') return false
  const report = process.report.getReport()
  if (!report.header.glibcVersionRuntime) return false // musl: no glibc to pin
  // cargo-zigbuild runs zig from PATH or from the `ziglang` Python package.
  return found('cargo-zigbuild', ['--version']) && (found('zig', ['version']) || found('python3', ['-m', 'ziglang', 'version']))
}

function run(command, args) {
  console.error(`> ${command} ${args.join(' ')}`)
  const r = spawnSync(command, args, { stdio: 'inherit', cwd: root })
  if (r.error) throw r.error
  process.exit(r.status ?? 1)
}

const [mode = 'build', ...extra] = process.argv.slice(2)
const zig = useZig()
if (mode === 'build') {
  const cli = require.resolve('@napi-rs/cli/package.json')
  const napi = path.join(path.dirname(cli), require(cli).bin.napi)
  const args = [napi, 'build', '--platform', '--release', '--js', 'binding.js', '--dts', 'binding.d.ts']
  if (zig) args.push('--target', GLIBC_TARGET, '--cross-compile')
  run(process.execPath, [...args, ...extra])
} else if (mode === 'test') {
  // cargo-zigbuild spells the target with the glibc suffix; cargo builds x86_64-unknown-linux-gnu.
  if (zig) run('cargo-zigbuild', ['test', '--release', '--target', GLIBC_TARGET, ...extra])
  else run('cargo', ['test', '--release', ...extra])
} else {
  console.error(`usage: node scripts/build.js [build|test] [extra cargo/napi args]`)
  process.exit(2)
}
