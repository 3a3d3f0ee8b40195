#!/usr/bin/env node
// Every export of the public typings and every member of what they export carries a doc comment
// (what editors show on hover). Prints the undocumented ones and fails if there are any.
'use strict'

const path = require('node:path')
const ts = require('typescript')

const root = path.join(__dirname, '..')
const files = ['index.d.ts', 'index.d.mts']
let missing = 0
let documented = 0

function hasDoc(node) {
  return ts.getJSDocCommentsAndTags(node).some((d) => ts.isJSDoc(d) && (d.comment || (d.tags && d.tags.length)))
}

function nameOf(node) {
  if (node.name) return node.name.getText()
  if (ts.isCallSignatureDeclaration(node)) return '(call)'
  if (ts.isIndexSignatureDeclaration(node)) return '[index]'
  if (ts.isConstructSignatureDeclaration(node)) return 'new()'
  return ts.SyntaxKind[node.kind]
}

function check(node, where, source) {
  const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1
  if (hasDoc(node)) documented++
  else {
    missing++
    console.log(`${where}${nameOf(node)} (${path.basename(source.fileName)}:${line})`)
  }
}

function members(node, where, source) {
  const list = ts.isInterfaceDeclaration(node) || ts.isClassDeclaration(node) ? node.members
    : ts.isTypeAliasDeclaration(node) && ts.isTypeLiteralNode(node.type) ? node.type.members
    : ts.isVariableStatement(node) ? node.declarationList.declarations.flatMap((d) => (d.type && ts.isTypeLiteralNode(d.type) ? d.type.members : []))
    : []
  for (const m of list) {
    check(m, where, source)
    // Inline option objects (`start(options?: { … })`): their fields show on hover too.
    if ((ts.isMethodSignature(m) || ts.isMethodDeclaration(m)) && m.parameters) {
      for (const p of m.parameters) if (p.type && ts.isTypeLiteralNode(p.type)) for (const f of p.type.members) check(f, `${where}${nameOf(m)}(${p.name.getText()}).`, source)
    }
  }
}

function walk(statements, prefix, source) {
  for (const node of statements) {
    const exported = node.modifiers && node.modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
    const isDeclaration = ts.isInterfaceDeclaration(node) || ts.isClassDeclaration(node) || ts.isFunctionDeclaration(node) || ts.isTypeAliasDeclaration(node) || ts.isModuleDeclaration(node) || ts.isVariableStatement(node)
    if (!isDeclaration) continue
    // `declare const Bun` is exported through `export default Bun`.
    if (!exported && !(ts.isVariableStatement(node) && prefix === '')) continue
    const name = ts.isVariableStatement(node) ? node.declarationList.declarations[0].name.getText() : node.name.getText()
    if (ts.isModuleDeclaration(node)) {
      check(node, prefix, source)
      walk(node.body.statements, `${prefix}${name}.`, source)
      continue
    }
    check(node, prefix, source)
    members(node, `${prefix}${name}.`, source)
  }
}

for (const file of files) {
  const full = path.join(root, file)
  const source = ts.createSourceFile(full, ts.sys.readFile(full), ts.ScriptTarget.Latest, true)
  walk(source.statements, '', source)
}
console.log(`doc comments: ${documented} documented, ${missing} missing`)
process.exit(missing === 0 ? 0 : 1)
