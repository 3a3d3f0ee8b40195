'use strict'
// Liveness and memory, each in a child process running a fixture from __test__/fixtures. The
// child is `process.execPath`: node with the package under Jest, bun with real Bun under
// `bun test`; each fixture picks its implementation the same way.

const path = require('node:path')
const { spawn } = require('node:child_process')
const { within, sleep, deferred } = require('./helpers')

const MB = 1000 * 1000

let children = []
afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  await Promise.all(children.map((child) => within(child.closed, 5000, 'child to be reaped').catch(() => {})))
  children = []
})

/**
 * Starts a fixture. `exited` resolves with { code, signal, ms, stdout, stderr } once the child
 * has exited and its output is complete; `line(text)` resolves when stdout has a line starting
 * with `text`.
 */
function run(name, args = [], execArgv = []) {
  const started = Date.now()
  const child = spawn(process.execPath, [...execArgv, path.join(__dirname, 'fixtures', name), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let stdout = ''
  let stderr = ''
  let exitedAt = 0
  const waiters = []
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (text) => {
    stdout += text
    for (const w of waiters) if (stdout.split('\n').some((l) => l.startsWith(w.text))) w.resolve()
  })
  child.stderr.on('data', (text) => {
    stderr += text
  })
  child.on('exit', () => {
    exitedAt = Date.now()
  })
  const closed = new Promise((resolve) => {
    child.on('close', (code, signal) =>
      resolve({ code, signal, ms: (exitedAt || Date.now()) - started, stdout, stderr }),
    )
  })
  child.closed = closed
  const line = (text) => {
    const d = deferred()
    waiters.push({ text, resolve: d.resolve })
    if (stdout.split('\n').some((l) => l.startsWith(text))) d.resolve()
    return within(d.promise, 10000, `"${text}" from ${name}`)
  }
  const alive = () => child.exitCode === null && child.signalCode === null
  return { child, exited: closed, line, alive }
}

/** Asserts the child is still running `ms` after `since`, then kills it. */
async function expectAliveAfter(proc, ms) {
  const outcome = await Promise.race([proc.exited.then((r) => ({ exited: r })), sleep(ms).then(() => null)])
  expect(outcome).toBeNull()
  expect(proc.alive()).toBe(true)
  proc.child.kill('SIGKILL')
  const result = await within(proc.exited, 5000, 'killed child to exit')
  expect(result.signal).toBe('SIGKILL')
}

describe('process liveness', () => {
  test('a process whose only listener is unref()ed exits by itself', async () => {
    const result = await within(run('exit-unref-listener.js').exited, 10000, 'child exit')
    expect(result.stderr).toBe('')
    expect(result.stdout).toMatch(/^listening \d+\n$/)
    expect(result.code).toBe(0)
    expect(result.ms).toBeLessThan(3000)
  })

  test('a process holding a ref\'d listener is still running at the deadline', async () => {
    const proc = run('exit-ref-listener.js')
    await proc.line('listening')
    await expectAliveAfter(proc, 1500)
  })

  test('a process that connects, echoes once and closes everything exits by itself', async () => {
    const result = await within(run('exit-echo.js').exited, 10000, 'child exit')
    expect(result.stderr).toBe('')
    expect(result.stdout).toBe('echoed ping\nserver closed\n')
    expect(result.code).toBe(0)
    expect(result.ms).toBeLessThan(3000)
  })

  test('an unref()ed client, with the listener and the accepted socket unref()ed too, lets the process exit', async () => {
    const result = await within(run('exit-unref-client.js', ['all']).exited, 10000, 'child exit')
    expect(result.stderr).toBe('')
    expect(result.stdout).toBe('connected\n')
    expect(result.code).toBe(0)
    expect(result.ms).toBeLessThan(3000)
  })

  test('an unref()ed client and listener do not let the process exit while the accepted socket is ref\'d', async () => {
    const proc = run('exit-unref-client.js', ['client'])
    await proc.line('connected')
    await expectAliveAfter(proc, 1500)
  })

  test('listener.stop() lets the process exit', async () => {
    const result = await within(run('exit-stop.js').exited, 10000, 'child exit')
    expect(result.stderr).toBe('')
    expect(result.stdout).toBe('stopped\n')
    expect(result.code).toBe(0)
    expect(result.ms).toBeLessThan(3000)
  })

  test('process.exit(code) inside a data handler with open sockets exits cleanly with that code', async () => {
    const result = await within(run('exit-process-exit.js', ['7']).exited, 10000, 'child exit')
    expect(result.stdout).toBe('got bye\n')
    expect(result.stderr).toBe('')
    expect(result.signal).toBeNull()
    expect(result.code).toBe(7)
  })
})

describe('memory', () => {
  test('a slow consumer keeps memory bounded while a client floods 256 MiB', async () => {
    const total = 256 * 1024 * 1024
    const result = await within(run('exit-slow-consumer.js', [String(total)]).exited, 55000, 'slow consumer')
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report.received).toBe(total)
    expect(report.peakRss).toBeLessThan(150 * MB)
  }, 60000)

  test('opening and closing 2,000 connections one after another does not leak', async () => {
    const result = await within(run('exit-leak.js', ['2000'], ['--expose-gc']).exited, 55000, 'leak check')
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const { rss } = JSON.parse(result.stdout)
    expect(Object.keys(rss)).toEqual(['500', '1000', '1500', '2000'])
    expect(rss[2000] - rss[1000]).toBeLessThan(20 * MB)
  }, 60000)
})
