#!/usr/bin/env node
// The README's code blocks that stand for files: a block right after `<!-- file: PATH -->` must
// equal PATH in this repository, which the package check runs (so the README shows what is
// tested, verbatim).
//   node scripts/readme-blocks.js check          every marked block equals its file
//   node scripts/readme-blocks.js extract NAME   prints the block marked with a PATH ending in NAME
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')

function blocks() {
  const found = []
  const re = /<!-- file: (\S+) -->\n```[a-z]*\n([\s\S]*?)```\n/g
  for (let m; (m = re.exec(readme)); ) found.push({ file: m[1], text: m[2] })
  return found
}

const [command, name] = process.argv.slice(2)
if (command === 'check') {
  const list = blocks()
  let bad = 0
  for (const { file, text } of list) {
    if (fs.readFileSync(path.join(root, file), 'utf8') !== text) {
      console.error(`README block for ${file} differs from the file`)
      bad++
    }
  }
  if (list.length === 0) bad++
  console.log(`README blocks checked against their files: ${list.length}`)
  process.exit(bad === 0 ? 0 : 1)
} else if (command === 'extract') {
  const block = blocks().find((b) => b.file.endsWith(`/${name}`) || b.file === name)
  if (!block) throw new Error(`no README block for ${name}`)
  process.stdout.write(block.text)
} else {
  console.error('usage: readme-blocks.js check | extract NAME')
  process.exit(2)
}
