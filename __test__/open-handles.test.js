'use strict'
// `jest --detectOpenHandles` in a user's project: over a suite that closes everything it opened
// it must report nothing, and for a listener left open it must point at that listen() call (not
// at the line that required the package). Each case is a child Jest run over
// __test__/fixtures/open-handles/*.check.js, with `bun` mapped to the package.
//
// The package's own event channel runs in an async resource whose hasRef() is false; each
// listen()/connect()/udpSocket() makes one of its own, destroyed when that handle closes. On Bun
// the same suites run under `bun test`, which has no --detectOpenHandles.

const path = require('node:path')
const { spawn } = require('node:child_process')
const { onBun, within } = require('./helpers')

const dir = path.join(__dirname, 'fixtures', 'open-handles')

/** Runs the child test runner over one suite; resolves with its output once it exits (or is killed). */
function runSuite(file, ms = 30000) {
  const args = onBun
    ? ['test', path.join(dir, file)]
    : [require.resolve('jest/bin/jest'), '--config', path.join(dir, 'jest.config.js'), '--ci', '--detectOpenHandles', file]
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = new Promise((resolve) => child.on('close', (code) => resolve({ code, output })))
  // The report comes after the summary; a run kept alive by the leak is ended once it is out.
  const watch = setInterval(() => {
    if (/open handles? potentially keeping Jest from exiting[\s\S]*\n\s*at /.test(output)) child.kill()
  }, 50)
  return within(exited, ms, `child test run of ${file}`).finally(() => {
    clearInterval(watch)
    child.kill('SIGKILL')
  })
}


test('--detectOpenHandles reports nothing for a suite that closes everything', async () => {
  const { code, output } = await runSuite('closes-all.check.js')
  expect(output).toMatch(/1 pass/)
  expect(code).toBe(0)
  expect(output).not.toMatch(/open handle/)
})

test('--detectOpenHandles points at the listen() that left a listener open', async () => {
  const { output } = await runSuite('leaves-listener.check.js')
  expect(output).toMatch(/1 pass/)
  if (onBun) return
  const report = output.slice(output.indexOf('open handle'))
  // The first frame in the suite is the listen() call, line 5 of leaves-listener.check.js.
  const frame = report.match(/leaves-listener\.check\.js:(\d+):\d+/)
  expect(frame && frame[1]).toBe('5')
  expect(report).not.toMatch(/napi_rs_threadsafe_function/)
})
