'use strict'
// The error thrown when the addon does not load (lib/load-error.js), for platforms this machine is
// not: the exact triple (musl, Windows, macOS, armv7), what it says when the platform has a
// prebuilt binary that is missing, and when it has none. The real failures on this machine (no
// binary installed, a broken one, one needing a newer glibc) run in the package check
// (scripts/check-package.sh), against installed tarballs. Pure JS: the same on Bun.

const { platform, prebuiltTriples, loadError } = require('../lib/load-error')
const pkg = require('../package.json')

const linux = (facts) => ({ platform: 'linux', arch: 'x64', glibc: null, musl: false, ...facts })

test('the triple names the C library on Linux and the ABI elsewhere', () => {
  expect(platform(linux({ glibc: '2.31' }))).toEqual({ triple: 'linux-x64-gnu', libc: { name: 'glibc', version: '2.31' } })
  expect(platform(linux({ musl: true }))).toEqual({ triple: 'linux-x64-musl', libc: { name: 'musl' } })
  expect(platform(linux({ arch: 'arm64', musl: true })).triple).toBe('linux-arm64-musl')
  expect(platform(linux({ arch: 'arm', glibc: '2.28' })).triple).toBe('linux-arm-gnueabihf')
  expect(platform({ platform: 'darwin', arch: 'arm64' })).toEqual({ triple: 'darwin-arm64', libc: null })
  expect(platform({ platform: 'win32', arch: 'x64' }).triple).toBe('win32-x64-msvc')
})

test('the prebuilt triples are the release targets of package.json', () => {
  const triples = prebuiltTriples()
  expect(triples).toHaveLength(pkg.napi.targets.length)
  expect(triples).toEqual(expect.arrayContaining(['linux-x64-gnu', 'linux-x64-musl', 'darwin-arm64', 'win32-x64-msvc']))
})

test('on musl with the binary missing: names musl, the missing optional dependency and the build commands', () => {
  const err = loadError(new Error('Cannot find module'), linux({ musl: true }), null)
  expect(err.code).toBe('ERR_BUN_SOCKETS_NO_BINARY')
  expect(err.message).toContain('no native binary for linux-x64-musl (Node ')
  expect(err.message).toContain(', musl)')
  expect(err.message).toContain('optional dependency bun-sockets-linux-x64-musl, but it is not installed')
  expect(err.message).toContain('git clone https://github.com/bun-sockets/bun-sockets.git')
  expect(err.message).toContain('npm install /path/to/bun-sockets')
  expect(err.cause.message).toBe('Cannot find module')
})

test('on a platform without a prebuilt binary: says so and gives the build commands', () => {
  const err = loadError(new Error('nope'), { platform: 'freebsd', arch: 'x64' }, null)
  expect(err.code).toBe('ERR_BUN_SOCKETS_NO_BINARY')
  expect(err.message).toContain('no native binary for freebsd-x64')
  expect(err.message).not.toContain('optional dependency')
  expect(err.message).toContain('Build from source')
})

test('a binary that was found but did not load: its path and the loader\'s reason', () => {
  const file = require('node:path').join(__dirname, 'fixtures', 'certs', 'ca.pem') // exists, is no library
  const err = loadError(new Error('outer'), linux({ glibc: '2.31' }), file)
  expect(err.code).toBe('ERR_BUN_SOCKETS_LOAD_FAILED')
  expect(err.message).toContain('was found but failed to load')
  expect(err.message).toContain(`Binary: ${file}`)
  expect(err.message).toMatch(/Why: .+/)
})
