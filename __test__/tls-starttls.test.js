'use strict'
// STARTTLS ordering: from the moment upgradeTLS() is called, every byte of the connection goes to
// the new TLS session, none to the old socket's handlers, and none to the TLS socket's `data`
// unless it was decrypted. A server that answers "220" and upgrades in the same handler never
// loses the client's ClientHello (also with work in between, and against Python's smtplib); on a
// client, plaintext that follows the 220 goes into the session and fails the handshake; bytes
// already read can be handed over with `initialData`. Expectations checked on bun@1.4.4.

const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const tls = require('node:tls')
const { spawn, spawnSync } = require('node:child_process')
const { listen, connect } = require('bun')
const { deferred, within, sleep, autoClose } = require('./helpers')

const CERTS = path.join(__dirname, 'fixtures', 'certs')
const pem = (name) => fs.readFileSync(path.join(CERTS, name), 'utf8')
const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }
const HOST = '127.0.0.1'

const track = autoClose()

/** Keeps the thread busy, as a handler doing real work would. */
function busy(ms) {
  const end = Date.now() + ms
  while (Date.now() < end);
}

/**
 * A plain server that answers "STARTTLS" with "220 Ready to start TLS" and upgrades in the same
 * handler, `workMs` after the write. Each upgraded socket echoes; `handshakes` counts successes.
 */
function starttlsServer(workMs) {
  const state = { handshakes: 0, failures: [] }
  state.listener = track(
    listen({
      hostname: HOST,
      port: 0,
      socket: {
        data(socket, chunk) {
          // After the upgrade the `raw` twin, which keeps these handlers, sees the TLS records.
          if (socket.getTLSVersion() !== null || !String(chunk).includes('STARTTLS')) return
          socket.write('220 Ready to start TLS\r\n')
          busy(workMs)
          const [, secure] = socket.upgradeTLS({
            tls: SERVER_TLS,
            socket: {
              handshake(_s, success, err) {
                if (success) state.handshakes++
                else state.failures.push(err?.code)
              },
              data(s, d) {
                s.write(d)
              },
            },
          })
          track(secure)
        },
      },
    }),
  )
  return state
}

/** A client that sends its ClientHello the moment it reads the 220; resolves with the echo. */
async function starttlsClient(port) {
  const done = deferred()
  const socket = track(
    await connect({
      hostname: HOST,
      port,
      socket: {
        open: (s) => s.write('STARTTLS\r\n'),
        data(s, chunk) {
          if (s.getTLSVersion() !== null) return // the `raw` twin
          if (!String(chunk).startsWith('220')) return done.reject(new Error(`unexpected ${chunk}`))
          const [, secure] = s.upgradeTLS({
            tls: CLIENT_TLS,
            socket: {
              handshake(t, success, err) {
                if (!success) return done.reject(err ?? new Error('handshake failed'))
                t.write('ping')
              },
              data: (t, d) => done.resolve(String(d)),
              close: () => done.reject(new Error('closed before the echo')),
            },
          })
          track(secure)
        },
      },
    }),
  )
  try {
    return await within(done.promise, 5000, 'STARTTLS round trip')
  } finally {
    socket.terminate()
  }
}

describe('a server that writes 220 and upgrades in the same handler', () => {
  for (const workMs of [0, 30]) {
    test(`20 of 20 handshakes succeed when the ClientHello follows the 220 at once (${workMs} ms of work before upgradeTLS)`, async () => {
      const server = starttlsServer(workMs)
      const echoes = []
      for (let i = 0; i < 20; i++) echoes.push(await starttlsClient(server.listener.port))
      expect(echoes).toEqual(Array(20).fill('ping'))
      expect(server.failures).toEqual([])
      expect(server.handshakes).toBe(20)
    })
  }
})

// --- Python's smtplib -----------------------------------------------------------------------------

const hasPython = spawnSync('python3', ['-c', 'import smtplib, ssl'], { stdio: 'ignore' }).status === 0

/** EHLO, STARTTLS, EHLO, QUIT, `count` times; prints how many sessions got through TLS. */
const SMTP_CLIENT = `
import smtplib, ssl, sys
port, ca, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
context = ssl.create_default_context(cafile=ca)
ok = 0
for i in range(count):
    try:
        s = smtplib.SMTP('127.0.0.1', port, timeout=5)
        s.ehlo()
        s.starttls(context=context)
        code, _ = s.ehlo()
        if code == 250 and s.sock.version():
            ok += 1
        s.quit()
    except Exception as e:
        print('session', i, repr(e), file=sys.stderr)
print(ok)
`

/** Just enough SMTP for smtplib: EHLO (offering STARTTLS before TLS), STARTTLS, QUIT. */
function smtpServer(workMs) {
  const lines = (onLine) => {
    let pending = ''
    return (socket, chunk) => {
      // Once upgraded, the plain handlers stay on the `raw` twin, which sees the TLS records.
      if (onLine === plain && socket.getTLSVersion() !== null) return
      pending += String(chunk)
      let end
      while ((end = pending.indexOf('\r\n')) !== -1) {
        const line = pending.slice(0, end)
        pending = pending.slice(end + 2)
        if (onLine(socket, line.toUpperCase()) === 'stop') return
      }
    }
  }
  const secureHandlers = {
    data: lines((socket, line) => {
      if (line.startsWith('EHLO')) socket.write('250 localhost\r\n')
      else if (line.startsWith('QUIT')) socket.end('221 Bye\r\n')
      else socket.write('500 What\r\n')
    }),
  }
  const plain = (socket, line) => {
    if (line.startsWith('EHLO')) socket.write('250-localhost\r\n250 STARTTLS\r\n')
    else if (line.startsWith('STARTTLS')) {
      socket.write('220 Ready to start TLS\r\n')
      busy(workMs)
      track(socket.upgradeTLS({ tls: SERVER_TLS, socket: secureHandlers })[1])
      return 'stop'
    } else if (line.startsWith('QUIT')) socket.end('221 Bye\r\n')
    else socket.write('500 What\r\n')
  }
  return track(
    listen({
      hostname: HOST,
      port: 0,
      socket: { open: (socket) => socket.write('220 localhost ESMTP\r\n'), data: lines(plain) },
    }),
  )
}

async function runSmtplib(port, count) {
  const child = spawn('python3', ['-c', SMTP_CLIENT, String(port), path.join(CERTS, 'ca.pem'), String(count)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const code = await within(new Promise((resolve) => child.on('close', resolve)), 30000, 'smtplib').catch((err) => {
    child.kill('SIGKILL')
    throw err
  })
  return { code, sessions: Number(stdout.trim()), stderr }
}

;(hasPython ? describe : describe.skip)("Python's smtplib against a bun-sockets SMTP server", () => {
  for (const workMs of [0, 30]) {
    test(`EHLO, STARTTLS, EHLO, QUIT: 20 of 20 sessions (${workMs} ms of work before upgradeTLS)`, async () => {
      const server = smtpServer(workMs)
      const result = await runSmtplib(server.port, 20)
      expect(result).toEqual({ code: 0, sessions: 20, stderr: '' })
    }, 40000)
  }
})

// --- the client side ------------------------------------------------------------------------------

test('a client: plaintext sent after the 220 goes into the TLS session (the handshake fails), never to data', async () => {
  // A node:tls server that sends plaintext between its 220 and its side of the handshake.
  const server = net.createServer((raw) => {
    raw.on('error', () => {})
    raw.write('220 Ready to start TLS\r\n')
    setTimeout(() => {
      raw.write('250 INJECTED plaintext\r\n')
      const secure = new tls.TLSSocket(raw, { isServer: true, ...SERVER_TLS })
      secure.on('error', () => {})
      secure.on('secure', () => secure.write('decrypted'))
    }, 10)
  })
  await new Promise((resolve) => server.listen(0, HOST, resolve))
  try {
    const seen = { plain: '', decrypted: '', handshakes: [] }
    const closed = deferred()
    const socket = track(
      await connect({
        hostname: HOST,
        port: server.address().port,
        socket: {
          data(s, chunk) {
            if (s.getTLSVersion() !== null) return // the `raw` twin sees what goes into the session
            seen.plain += String(chunk)
            if (!seen.plain.startsWith('220')) return
            // The injected line reaches the kernel while this handler works, before the upgrade.
            busy(40)
            const [, secure] = s.upgradeTLS({
              tls: CLIENT_TLS,
              socket: {
                handshake: (_t, success) => seen.handshakes.push(success),
                data: (_t, d) => (seen.decrypted += String(d)),
                close: () => closed.resolve(),
              },
            })
            track(secure)
          },
        },
      }),
    )
    await within(closed.promise, 5000, 'the failed TLS socket to close')
    expect(seen.plain).toBe('220 Ready to start TLS\r\n')
    expect(seen.decrypted).toBe('')
    expect(seen.handshakes).not.toContain(true)
    expect(socket.readyState).toBe(-1)
  } finally {
    server.close()
  }
})

// --- initialData and isServer -----------------------------------------------------------------------

/**
 * A plain server whose client upgrades at once: the ClientHello reaches the server's plain
 * `data`, which upgrades with `initialData` set by `initial(chunk)`.
 */
async function helloFirst(initial) {
  const result = { serverHandshake: deferred(), echoed: deferred(), upgradedWith: null }
  const listener = track(
    listen({
      hostname: HOST,
      port: 0,
      socket: {
        data(socket, chunk) {
          if (result.upgradedWith !== null) return // the raw twin sees the records that follow
          result.upgradedWith = chunk.length
          const [, secure] = socket.upgradeTLS({
            tls: SERVER_TLS,
            initialData: initial(chunk),
            socket: {
              handshake: (_s, success) => result.serverHandshake.resolve(success),
              data: (s, d) => s.write(d),
            },
          })
          track(secure)
        },
      },
    }),
  )
  const client = track(await connect({ hostname: HOST, port: listener.port, socket: { data() {} } }))
  const [, secure] = client.upgradeTLS({
    tls: CLIENT_TLS,
    socket: {
      handshake: (s, success) => success && s.write('hello'),
      data: (_s, d) => result.echoed.resolve(String(d)),
    },
  })
  track(secure)
  return result
}

describe('upgradeTLS({ initialData })', () => {
  test('a server that already read the ClientHello hands it over: the handshake completes, data flows', async () => {
    const result = await helloFirst((chunk) => chunk)
    expect(await within(result.serverHandshake.promise, 5000, 'server handshake')).toBe(true)
    expect(await within(result.echoed.promise, 5000, 'echo')).toBe('hello')
    expect(result.upgradedWith).toBeGreaterThan(0)
  })

  test('as an ArrayBuffer or a Uint8Array too', async () => {
    for (const convert of [(c) => c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength), (c) => new Uint8Array(c)]) {
      const result = await helloFirst(convert)
      expect(await within(result.echoed.promise, 5000, 'echo')).toBe('hello')
    }
  })

  test('without it the ClientHello is gone: no handshake', async () => {
    const result = await helloFirst(() => undefined)
    const outcome = await Promise.race([result.serverHandshake.promise, sleep(300).then(() => 'none')])
    expect(outcome).toBe('none')
  })
})

test('upgradeTLS({ isServer }) picks the side: the connecting socket serves TLS to the accepting one', async () => {
  const results = { accepted: deferred(), connected: deferred() }
  const listener = track(
    listen({
      hostname: HOST,
      port: 0,
      socket: {
        open(socket) {
          const [, secure] = socket.upgradeTLS({
            isServer: false,
            tls: CLIENT_TLS,
            socket: {
              handshake: (s, success) => success && s.write('from the accepted side'),
              data: (_s, d) => results.accepted.resolve(String(d)),
            },
          })
          track(secure)
        },
        data() {},
      },
    }),
  )
  const client = track(await connect({ hostname: HOST, port: listener.port, socket: { data() {} } }))
  const [, secure] = client.upgradeTLS({
    isServer: true,
    tls: SERVER_TLS,
    socket: {
      handshake: (s, success) => success && s.write('from the connecting side'),
      data: (_s, d) => results.connected.resolve(String(d)),
    },
  })
  track(secure)
  expect(await within(results.accepted.promise, 5000, 'data on the accepted side')).toBe('from the connecting side')
  expect(await within(results.connected.promise, 5000, 'data on the connecting side')).toBe('from the accepted side')
  expect(secure.getTLSVersion()).toBe('TLSv1.3')
})
