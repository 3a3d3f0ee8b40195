'use strict'
// Liveness and memory, each in a child process running a fixture from __test__/fixtures. The
// child is `process.execPath`: node with the package under Jest, bun with real Bun under
// `bun test`; each fixture picks its implementation the same way.

const { within, fixtureRunner } = require('./helpers')

const MB = 1000 * 1000

const { run, expectAliveAfter } = fixtureRunner()

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

  test('connections accepted just as their listener stops do not keep the process alive', async () => {
    const result = await within(run('exit-stop-race.js').exited, 10000, 'child exit')
    expect(result.stderr).toBe('')
    expect(result.stdout).toBe('done\n')
    expect(result.code).toBe(0)
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

  test('over TLS too: a slow consumer keeps memory bounded while a client floods 128 MiB', async () => {
    const total = 128 * 1024 * 1024
    const result = await within(run('exit-slow-consumer.js', [String(total), 'tls']).exited, 55000, 'slow consumer')
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
