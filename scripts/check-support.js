#!/usr/bin/env node
// package.json's engines, the README's Node support row and the Node versions CI runs agree.
// usage: node scripts/check-support.js NODE_BINARY...  (the Nodes CI runs the suite on)
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const pkg = require('../package.json')
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')

const majors = process.argv
  .slice(2)
  .map((bin) => Number(execFileSync(bin, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' })))
  .sort((a, b) => a - b)
const min = Number(/^>=\s*(\d+)$/.exec(pkg.engines.node)?.[1])
const row = `| ${majors.join(', ')} | tested in CI`
const problems = []
if (majors.length === 0) problems.push('no Node binaries given')
if (min !== majors[0]) problems.push(`engines.node is "${pkg.engines.node}" but CI's oldest Node is ${majors[0]}`)
if (!readme.includes(row)) problems.push(`README has no support row "${row}"`)
if (!readme.includes(`not supported (\`engines: "${pkg.engines.node}"\`)`)) problems.push('README does not quote engines')
for (const p of problems) console.error(p)
if (problems.length > 0) process.exit(1)
console.log(`Node ${majors.join(', ')}: engines "${pkg.engines.node}" and the README's support table agree`)
