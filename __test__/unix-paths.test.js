'use strict'
// Unix socket paths Linux's sun_path cannot hold (108 bytes or more), which Bun binds and
// connects through /proc/self/fd/<directory>/<name>, and Linux abstract names (a leading NUL),
// which are no files. The expectations are Bun 1.4.4's (docs/reference/bun-tcp.md, "Later
// observations … issue 12"). Linux only. Runs under Jest and `bun test`.

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('bun')
const { deferred, within, tempDir, autoClose, thrown } = require('./helpers')

const track = autoClose()
const linux = process.platform === 'linux' ? describe : describe.skip

/** A path of exactly `total` bytes whose last component is `name`-ish and short. */
function longPath(total) {
  const base = tempDir()
  const name = 'srv.sock'
  const pad = total - base.length - name.length - 2
  const dir = path.join(base, 'd'.repeat(pad))
  fs.mkdirSync(dir)
  const full = path.join(dir, name)
  expect(Buffer.byteLength(full)).toBe(total)
  return full
}

/** Listens on `unix` with an echo server, connects, and resolves what came back. */
async function echo(unix) {
  const listener = track(listen({ unix, socket: { data: (socket, chunk) => socket.write(chunk) } }))
  const got = deferred()
  track(await within(connect({ unix, socket: { open: (socket) => socket.write('hello'), data: (socket, chunk) => got.resolve(String(chunk)) } }), 5000, 'connect'))
  return { listener, reply: await within(got.promise, 5000, 'echo') }
}

const rejection = (promise) => within(promise.then(() => null, (err) => err), 5000, 'connect')

linux('unix socket paths of 108 bytes and more', () => {
  for (const total of [108, 150]) {
    test(`${total} bytes: listen and connect work; the file exists while listening and goes at stop()`, async () => {
      const unix = longPath(total)
      const { listener, reply } = await echo(unix)
      expect(reply).toBe('hello')
      expect(listener.unix).toBe(unix)
      expect(fs.statSync(unix).isSocket()).toBe(true)
      listener.stop(true)
      expect(fs.existsSync(unix)).toBe(false)
    })
  }

  test('connecting to a long path nobody listens on: ENOENT', async () => {
    const err = await rejection(connect({ unix: longPath(130), socket: { data() {} } }))
    expect([err.code, err.errno, err.syscall]).toEqual(['ENOENT', -2, 'connect'])
  })

  test('a long path already listened on: EADDRINUSE', () => {
    const unix = longPath(120)
    track(listen({ unix, socket: { data() {} } }))
    const err = thrown(() => listen({ unix, socket: { data() {} } }))
    expect([err.code, err.errno, err.syscall, err.message]).toEqual(['EADDRINUSE', 98, 'listen', `Failed to listen at ${unix}`])
  })

  test('a long path in a missing directory, or with a name too long on its own: EINVAL', async () => {
    const missing = path.join(tempDir(), 'm'.repeat(110), 'a.sock')
    const longName = path.join(tempDir(), 'n'.repeat(110))
    for (const unix of [missing, longName]) {
      const err = thrown(() => listen({ unix, socket: { data() {} } }))
      expect([err.code, err.errno, err.syscall, err.message]).toEqual(['EINVAL', 22, 'listen', `Failed to listen at ${unix}`])
      const refused = await rejection(connect({ unix, socket: { data() {} } }))
      expect([refused.code, refused.errno, refused.syscall]).toEqual(['EINVAL', -22, 'connect'])
    }
  })
})

linux('abstract unix socket names', () => {
  const name = () => `\0bun-sockets-test-${process.pid}-${Math.random().toString(36).slice(2)}`

  test('listen and connect work; listener.unix keeps the NUL', async () => {
    const unix = name()
    const { listener, reply } = await echo(unix)
    expect(reply).toBe('hello')
    expect(listener.unix).toBe(unix)
  })

  test('a name in use: EADDRINUSE; after stop(): ECONNREFUSED, and it can be listened on again', async () => {
    const unix = name()
    const listener = track(listen({ unix, socket: { data() {} } }))
    const err = thrown(() => listen({ unix, socket: { data() {} } }))
    expect([err.code, err.errno, err.syscall]).toEqual(['EADDRINUSE', 98, 'listen'])
    listener.stop(true)
    const refused = await rejection(connect({ unix, socket: { data() {} } }))
    expect([refused.code, refused.errno]).toEqual(['ECONNREFUSED', -111])
    track(listen({ unix, socket: { data() {} } }))
  })

  test('stop() never unlinks the file the name spells after its NUL', () => {
    const file = path.join(tempDir(), 'keep-me')
    fs.writeFileSync(file, 'still here')
    listen({ unix: `\0${file}`, socket: { data() {} } }).stop(true)
    expect(fs.readFileSync(file, 'utf8')).toBe('still here')
  })

  test('a name longer than sun_path holds: EINVAL', async () => {
    const unix = `\0${'a'.repeat(120)}`
    const err = thrown(() => listen({ unix, socket: { data() {} } }))
    expect([err.code, err.errno, err.syscall]).toEqual(['EINVAL', 22, 'listen'])
    const refused = await rejection(connect({ unix, socket: { data() {} } }))
    expect([refused.code, refused.errno]).toEqual(['EINVAL', -22])
  })
})
