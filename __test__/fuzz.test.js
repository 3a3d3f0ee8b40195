'use strict'
// Odd arguments everywhere, in child processes (a crash or a hang fails the test, not the test
// runner): a seeded fuzz of every export and every method, and a fixed sample whose outcomes must
// be bun@1.4.4's. Under `bun test` the same fixtures run on Bun, so args-sample.json stays Bun's.
// Fixtures: fixtures/args-world.js (values, objects, the network rules), args-fuzz.js, args-sample.js.

const { within, seeded, fixtureRunner } = require('./helpers')

const { run } = fixtureRunner()

// About 100,000 calls on Node in 5 s. BUN_SOCKETS_FUZZ_MS runs longer; BUN_SOCKETS_SEED replays.
const FUZZ_MS = Number(process.env.BUN_SOCKETS_FUZZ_MS) || 5000

test('argument fuzz: no crash, no hang, no native error or non-Error thrown, and the process exits by itself', async () => {
  await seeded(async (random) => {
    const result = await within(run('args-fuzz.js', [String(random.seed), String(FUZZ_MS)]).exited, FUZZ_MS + 30000, 'fuzz child to exit')
    expect({ signal: result.signal, code: result.code, stderr: result.stderr }).toEqual({ signal: null, code: 0, stderr: '' })
    const report = JSON.parse(result.stdout)
    expect(report.anomalies).toEqual([])
    // Every export, and every method and getter of every kind of object, open and closed.
    if (FUZZ_MS >= 5000) expect(report.uncovered).toEqual([])
    expect(report.calls).toBeGreaterThan(5000)
    expect(report.outcomes.throw).toBeGreaterThan(0)
    expect(report.outcomes.resolve).toBeGreaterThan(0)
    // Closing what it opened took the process down within a few seconds of the report.
    expect(result.ms).toBeLessThan(report.ms + 10000)
  })
}, FUZZ_MS + 45000)

test('a fixed sample of odd calls gives the outcomes bun@1.4.4 gave (fixtures/args-sample.json)', async () => {
  const result = await within(run('args-sample.js').exited, 60000, 'sample child to exit')
  expect({ signal: result.signal, code: result.code, stderr: result.stderr }).toEqual({ signal: null, code: 0, stderr: '' })
  const got = JSON.parse(result.stdout)
  const want = require('./fixtures/args-sample.json')
  const differences = Object.keys(want)
    .filter((key) => got[key] !== want[key])
    .map((key) => `${key}\n    bun@1.4.4: ${want[key]}\n    this run:  ${got[key]}`)
  expect(differences).toEqual([])
  expect(Object.keys(got)).toEqual(Object.keys(want))
}, 70000)
