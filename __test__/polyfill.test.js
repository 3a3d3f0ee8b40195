'use strict'
// polyfill.js / polyfill.mjs and the ESM entry index.mjs, each in a child process running a
// fixture from __test__/fixtures (a fresh globalThis per run). The child is `process.execPath`:
// node under Jest, where the polyfill must install the package on globalThis.Bun; bun under
// `bun test`, where it must leave the real Bun untouched. Each fixture prints one RESULT line.

const path = require('node:path')
const { spawn } = require('node:child_process')
const { onBun, within } = require('./helpers')

const MEMBERS = ['listen', 'connect', 'udpSocket', 'ArrayBufferSink']

let children = []
afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  await Promise.all(children.map((child) => within(child.closed, 5000, 'child to be reaped').catch(() => {})))
  children = []
})

/** Runs a fixture to its end (bounded) and returns its exit code, output and parsed RESULT. */
async function run(name) {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', name)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (text) => {
    stdout += text
  })
  child.stderr.on('data', (text) => {
    stderr += text
  })
  child.closed = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  const { code, signal } = await within(child.closed, 15000, `fixture ${name}`)
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '))
  if (line === undefined) {
    throw new Error(`${name} printed no RESULT (code ${code}, signal ${signal}):\n${stdout}\n${stderr}`)
  }
  return { code, signal, stderr, result: JSON.parse(line.slice('RESULT '.length)) }
}

test('require("bun-sockets/polyfill") installs the package on globalThis.Bun, and never on real Bun', async () => {
  const { code, result } = await run('polyfill-cjs.js')
  expect(result.echoError).toBeUndefined()
  expect(code).toBe(0)
  expect(result.onBun).toBe(onBun)
  expect(result.types).toEqual(MEMBERS.map(() => 'function'))
  expect(result.echoed).toBe('ping')
  if (onBun) {
    expect(result).toMatchObject({ hadBun: true, sameBun: true, unchanged: true })
  } else {
    expect(result).toMatchObject({ hadBun: false, plainObject: true, keys: MEMBERS, fromPackage: true })
  }
})

test('the polyfill keeps an existing globalThis.Bun and its members, filling in only what is missing', async () => {
  const { code, result } = await run('polyfill-existing.js')
  expect(code).toBe(0)
  expect(result.onBun).toBe(onBun)
  expect(result.sameBun).toBe(true)
  if (onBun) {
    expect(result.unchanged).toBe(true)
  } else {
    expect(result).toMatchObject({ keptListen: true, keptVersion: true, filledIn: true })
  }
})

test('index.mjs has the named and default exports of the CommonJS module, and polyfill.mjs installs them', async () => {
  const { code, result } = await run('polyfill-esm.mjs')
  expect(result.echoError).toBeUndefined()
  expect(code).toBe(0)
  expect(result.onBun).toBe(onBun)
  expect(result.namedTypes).toEqual(MEMBERS.map(() => 'function'))
  expect(result.defaultKeys).toEqual(MEMBERS)
  expect(result.defaultIsNamed).toBe(true)
  expect(result.namedIsCjs).toBe(true)
  expect(result.sinkWorks).toBe('[object Uint8Array]')
  expect(result.echoed).toBe('ping')
  if (onBun) {
    expect(result).toMatchObject({ hadBun: true, sameBun: true, unchanged: true, installed: false })
  } else {
    expect(result).toMatchObject({ hadBun: false, installed: true })
  }
})
