#!/usr/bin/env node
// Lays out what a release publishes, from this checkout and the built binaries:
//   <out>/bun-sockets/      the main package: the files package.json lists, and package.json with
//                           an optionalDependency on every platform package of napi.targets
//   <out>/npm/<triple>/     one package per target, holding its bun-sockets.<triple>.node
// The release workflow publishes exactly these directories; CI packs the same ones, installs the
// tarballs in a fresh project and compares them with `npm publish --dry-run`.
//
// usage: node scripts/stage-release.js <out> [--binaries <dir>] [--only <triple>[,<triple>…]]
//   --binaries  where to look (recursively) for bun-sockets.<triple>.node; default: the checkout
//   --only      stage only these platform packages (CI has one binary); the main package still
//               depends on all of them
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { prebuiltTriples } = require('../lib/load-error')

const root = path.join(__dirname, '..')
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))

function args() {
  const argv = process.argv.slice(2)
  const opts = { out: null, binaries: root, only: null }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--binaries') opts.binaries = path.resolve(argv[++i])
    else if (argv[i] === '--only') opts.only = argv[++i].split(',')
    else if (opts.out === null) opts.out = path.resolve(argv[i])
    else throw new Error(`unexpected argument ${argv[i]}`)
  }
  if (opts.out === null) throw new Error('usage: node scripts/stage-release.js <out> [--binaries <dir>] [--only <triples>]')
  return opts
}

/** Finds `name` under `dir`, skipping node_modules, target and the output itself. */
function find(dir, name, skip) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isFile() && entry.name === name) return full
    if (entry.isDirectory() && !['node_modules', 'target', '.git'].includes(entry.name) && full !== skip) {
      const hit = find(full, name, skip)
      if (hit) return hit
    }
  }
  return null
}

/** package.json of a platform package, from the triple napi-rs uses (`linux-x64-gnu`). */
function platformManifest(triple) {
  const [os, cpu, abi] = triple.split('-')
  const manifest = {
    name: `${pkg.name}-${triple}`,
    version: pkg.version,
    description: `The ${triple} binary of ${pkg.name}`,
    license: pkg.license,
    repository: pkg.repository,
    engines: pkg.engines,
    os: [os],
    cpu: [cpu],
    main: `${pkg.napi.binaryName}.${triple}.node`,
    files: [`${pkg.napi.binaryName}.${triple}.node`],
  }
  if (abi === 'gnu' || abi === 'gnueabihf') manifest.libc = ['glibc']
  if (abi === 'musl') manifest.libc = ['musl']
  return manifest
}

function stage({ out, binaries, only }) {
  fs.rmSync(out, { recursive: true, force: true })
  const triples = prebuiltTriples()
  for (const t of only ?? []) if (!triples.includes(t)) throw new Error(`${t} is not in napi.targets`)

  // The main package: exactly what `npm pack` would take from the checkout, minus any binary.
  const main = path.join(out, pkg.name)
  const listing = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }))
  for (const { path: file } of listing[0].files) {
    if (file.endsWith('.node')) continue
    fs.mkdirSync(path.dirname(path.join(main, file)), { recursive: true })
    fs.copyFileSync(path.join(root, file), path.join(main, file))
  }
  const manifest = { ...pkg, optionalDependencies: {} }
  for (const t of triples) manifest.optionalDependencies[`${pkg.name}-${t}`] = pkg.version
  // The repository's scripts (prepare builds with Rust) and dev tooling are not the user's.
  delete manifest.scripts
  delete manifest.devDependencies
  delete manifest.jest
  fs.writeFileSync(path.join(main, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')

  const staged = []
  for (const triple of only ?? triples) {
    const dir = path.join(out, 'npm', triple)
    const file = `${pkg.napi.binaryName}.${triple}.node`
    const binary = find(binaries, file, out)
    if (binary === null) throw new Error(`no ${file} under ${binaries}: the ${triple} package would be incomplete`)
    fs.mkdirSync(dir, { recursive: true })
    fs.copyFileSync(binary, path.join(dir, file))
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(platformManifest(triple), null, 2) + '\n')
    fs.writeFileSync(
      path.join(dir, 'README.md'),
      `# ${pkg.name}-${triple}\n\nThe \`${triple}\` native binary of [${pkg.name}](https://www.npmjs.com/package/${pkg.name}). ` +
        `Install \`${pkg.name}\`, not this package: npm picks the binary for the platform.\n`,
    )
    fs.copyFileSync(path.join(root, 'LICENSE'), path.join(dir, 'LICENSE'))
    staged.push(dir)
  }
  return { main, platforms: staged }
}

if (require.main === module) {
  const result = stage(args())
  console.log(JSON.stringify(result, null, 2))
}

module.exports = { stage, platformManifest }
