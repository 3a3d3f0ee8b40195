'use strict'
// The error thrown when the native addon does not load: the exact platform triple, whether a
// binary was there but would not load (and why, e.g. too old a glibc), which triples have
// prebuilt binaries, and the commands that build one from source. Loads without the addon.

const fs = require('node:fs')
const path = require('node:path')
const pkg = require('../package.json')

const ROOT = path.join(__dirname, '..')
const REPOSITORY = String(pkg.repository && pkg.repository.url).replace(/^git\+/, '').replace(/\.git$/, '')

/**
 * The napi-rs platform triple of this process (`linux-x64-gnu`, `linux-x64-musl`,
 * `darwin-arm64`, `win32-x64-msvc`, …) and the C library it runs on.
 * `facts` defaults to this process; tests pass other platforms.
 */
function platform(facts = currentFacts()) {
  const { platform, arch } = facts
  let abi = null
  let libc = null
  if (platform === 'linux') {
    libc = facts.glibc ? { name: 'glibc', version: facts.glibc } : facts.musl ? { name: 'musl' } : null
    const base = libc && libc.name === 'musl' ? 'musl' : 'gnu'
    abi = arch === 'arm' ? `${base}eabihf` : base
  } else if (platform === 'win32') {
    abi = 'msvc'
  } else if (platform === 'android' && arch === 'arm') {
    abi = 'eabi'
  }
  return { triple: [platform, arch, abi].filter(Boolean).join('-'), libc }
}

function currentFacts() {
  let glibc = null
  let musl = false
  if (process.platform === 'linux') {
    try {
      process.report.excludeNetwork = true
      const report = process.report.getReport()
      glibc = (report.header && report.header.glibcVersionRuntime) || null
      musl = !glibc && (report.sharedObjects || []).some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'))
    } catch {
      musl = false
    }
  }
  return { platform: process.platform, arch: process.arch, glibc, musl }
}

/** The triples the release workflow builds, as package.json's napi.targets names them. */
function prebuiltTriples() {
  const { parse } = targetNames
  return (pkg.napi && pkg.napi.targets ? pkg.napi.targets : []).map(parse)
}

// Rust target → napi-rs triple, for the targets the release builds.
const targetNames = {
  parse(target) {
    const [arch, vendor, os, env] = target.split('-')
    const cpu = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }[arch] || arch
    if (vendor === 'apple') return `darwin-${cpu}`
    if (os === 'windows') return `win32-${cpu}-msvc`
    if (os === 'linux') return `linux-${cpu}-${env}`
    return `${os}-${cpu}`
  },
}

/** Where a binary for `triple` would be: next to the package, or in its platform package. */
function findBinary(triple) {
  const local = path.join(ROOT, `${pkg.napi.binaryName}.${triple}.node`)
  if (fs.existsSync(local)) return local
  try {
    return require.resolve(`${pkg.name}-${triple}`)
  } catch {
    return null
  }
}

/** The error thrown when no binary loads; `loaderError` is what binding.js threw. */
function loadError(loaderError, facts = currentFacts(), found = findBinary(platform(facts).triple)) {
  const { triple, libc } = platform(facts)
  const prebuilt = prebuiltTriples()
  const runtime = `Node ${process.versions.node}${libc ? `, ${libc.name}${libc.version ? ` ${libc.version}` : ''}` : ''}`
  const lines = []
  let code
  if (found !== null) {
    code = 'ERR_BUN_SOCKETS_LOAD_FAILED'
    let reason = firstLoadError(loaderError, found)
    try {
      require(found)
    } catch (err) {
      reason = err.message
    }
    lines.push(`bun-sockets: the native binary for ${triple} (${runtime}) was found but failed to load.`)
    lines.push(`Binary: ${found}`)
    const needs = /GLIBC_(\d+(?:\.\d+)+)' not found/.exec(reason || '')
    if (needs) {
      lines.push(`It needs glibc ${needs[1]} or newer; this system has ${libc && libc.version ? `glibc ${libc.version}` : 'an older one'}.`)
    }
    lines.push(`Why: ${reason}`)
  } else {
    code = 'ERR_BUN_SOCKETS_NO_BINARY'
    lines.push(`bun-sockets: no native binary for ${triple} (${runtime}).`)
    if (prebuilt.includes(triple)) {
      lines.push(
        `A prebuilt one is published as the optional dependency ${pkg.name}-${triple}, but it is not installed: ` +
          'reinstall without --omit=optional / --no-optional (and with a lockfile made on a machine that lists it).',
      )
    }
  }
  lines.push(`Prebuilt binaries: ${prebuilt.join(', ')}.`)
  lines.push(
    'Build from source (needs Rust, https://rustup.rs, and Node.js 20 or newer):',
    `  git clone ${REPOSITORY}.git bun-sockets`,
    '  cd bun-sockets && npm install        # builds the addon for this machine',
    '  cd /path/to/your/project && npm install /path/to/bun-sockets',
    `More: ${REPOSITORY}#troubleshooting`,
  )
  const error = new Error(lines.join('\n'), { cause: loaderError })
  error.code = code
  return error
}

// binding.js collects every attempt's error in `cause`: the one that names `file` says why it failed.
function firstLoadError(err, file) {
  const seen = new Set()
  for (let e = err; e != null && !seen.has(e); e = e.cause) {
    seen.add(e)
    if (typeof e.message === 'string' && e.message.includes(path.basename(file))) return e.message
  }
  return err && err.message
}

module.exports = { platform, prebuiltTriples, findBinary, loadError }
