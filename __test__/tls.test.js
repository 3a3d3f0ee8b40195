'use strict'
// Bun.listen / Bun.connect with `tls`: event order around the handshake, pre-handshake writes,
// certificate and protocol failures, ALPN, mutual TLS, option forms, write()/drain, closing.
// Every connection is real TLS over 127.0.0.1. Runs under Jest (bun → package) and `bun test`.
// The expectations are Bun 1.4.4's observed behaviour (docs/reference/bun-tls.md). Handshake
// failures that come from the TLS library are checked by `code` only: their messages are
// OpenSSL's words in Bun and would differ elsewhere. Certificate errors keep Bun's messages.

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { listen, connect } = require('bun')
const { deferred, within, waitFor, sleep, autoClose, thrown, sender } = require('./helpers')

// --- certificates -----------------------------------------------------------------------------

const CERTS = path.join(__dirname, 'fixtures', 'certs')
const certPath = (name) => path.join(CERTS, name)
const pem = (name) => fs.readFileSync(certPath(name), 'utf8')

const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }
const CLIENT_CERT = { key: pem('client-key.pem'), cert: pem('client.pem') }
const MTLS_SERVER = { ...SERVER_TLS, ca: pem('ca.pem'), requestCert: true, rejectUnauthorized: true }
const CLIENT_CN = 'bun-sockets test client'

// --- local helpers ------------------------------------------------------------------------------

const track = autoClose()

/** `code` of an error, or the value itself as text (null, undefined). */
const codeOf = (err) => (err == null ? String(err) : err.code)

/**
 * One side of a connection: handlers that log each event into `events` ("open", "handshake true
 * null", "data" (consecutive chunks count once), "drain", "end", "close undefined", "error EPROTO")
 * and keep the bytes received and the errors seen. `hooks` run after the logging, with the
 * handler's arguments. A handshake handler is installed unless `handshake` is false; in Bun its
 * presence moves `open` to the TCP connect.
 */
function side({ handshake, ...hooks } = {}) {
  if (typeof handshake === 'function') hooks.handshake = handshake
  const s = { events: [], chunks: [], errors: {}, sockets: [], closed: deferred() }
  const note = (name, detail) => s.events.push(detail === undefined ? name : `${name} ${detail}`)
  const hook = (name, args) => hooks[name] && hooks[name](...args)
  s.handlers = {
    open(socket) {
      s.sockets.push(track(socket))
      note('open')
      hook('open', arguments)
    },
    data(socket, chunk) {
      s.chunks.push(Buffer.from(chunk))
      if (s.events[s.events.length - 1] !== 'data') note('data')
      hook('data', arguments)
    },
    drain() {
      note('drain')
      hook('drain', arguments)
    },
    end() {
      note('end')
      hook('end', arguments)
    },
    close(socket, err) {
      s.errors.close = err
      note('close', codeOf(err))
      hook('close', arguments)
      s.closed.resolve()
    },
    error(socket, err) {
      s.errors.error = err
      note('error', codeOf(err))
      hook('error', arguments)
    },
    connectError(socket, err) {
      note('connectError', codeOf(err))
    },
  }
  if (handshake !== false) {
    s.handlers.handshake = function (socket, success, err) {
      s.errors.handshake = err
      s.handshakeArgs = arguments.length
      note('handshake', `${success} ${codeOf(err)}`)
      hook('handshake', arguments)
    }
  }
  s.text = () => Buffer.concat(s.chunks).toString('latin1')
  s.has = (entry) => s.events.includes(entry)
  s.until = (entry, ms = 4000) => waitFor(() => s.has(entry), ms, `"${entry}" in [${s.events}]`)
  s.untilClosed = (ms = 4000) => within(s.closed.promise, ms, `close after [${s.events}]`)
  return s
}

/**
 * A TLS listener on 127.0.0.1:0 and one client connected to it. `server`/`client` are `side()`
 * options. The client side logs "resolved" when the connect promise settles, and keeps the
 * socket's `authorized` at that moment in `resolvedAuthorized`.
 */
async function tlsPair({ server = {}, client = {}, serverTls = SERVER_TLS, clientTls = CLIENT_TLS } = {}) {
  const S = side(server)
  const C = side(client)
  const listener = track(listen({ hostname: '127.0.0.1', port: 0, tls: serverTls, socket: S.handlers }))
  const promise = connect({ hostname: '127.0.0.1', port: listener.port, tls: clientTls, socket: C.handlers })
  promise.then((socket) => {
    C.resolvedAuthorized = socket.authorized
    C.events.push('resolved')
  })
  const socket = track(await within(promise, 5000, 'connect'))
  return { listener, S, C, client: socket }
}

const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex')

/** Counts and hashes what a side receives; `done` resolves at `size` bytes. */
function receiver(size) {
  const hash = crypto.createHash('sha256')
  let received = 0
  const done = deferred()
  const data = (socket, chunk) => {
    hash.update(chunk)
    received += chunk.length
    if (received >= size) done.resolve({ received, digest: hash.digest('hex') })
  }
  return { data, done: done.promise, received: () => received }
}

/** Asserts Bun's shape for a TLS error: a plain Error, own keys code and errno (0). */
function expectTlsError(err, code, message) {
  expect(err).toBeInstanceOf(Error)
  expect(err.constructor).toBe(Error)
  expect(err.code).toBe(code)
  expect(err.errno).toBe(0)
  expect(Object.keys(err).sort()).toEqual(['code', 'errno'])
  if (message !== undefined) expect(err.message).toBe(message)
}

// --- 1. event order -------------------------------------------------------------------------------

describe('event order', () => {
  test('with handshake handlers: open at TCP connect, promise before the handshake, drain after it', async () => {
    const seen = {}
    const { S, C, client } = await tlsPair({
      server: {
        open: (s) => (seen.serverOpen = [s.authorized, s.alpnProtocol]),
        handshake: (s) => (seen.serverHandshake = s.authorized),
      },
      client: {
        open: (s) => (seen.clientOpen = [s.authorized, s.alpnProtocol]),
        handshake: (s) => (seen.clientHandshake = s.authorized),
      },
    })
    await C.until('drain')
    await S.until('drain')
    expect(C.events).toEqual(['open', 'resolved', 'handshake true null', 'drain'])
    expect(S.events).toEqual(['open', 'handshake true UNABLE_TO_GET_ISSUER_CERT', 'drain'])
    // handshake(socket, success, authorizationError): always three arguments.
    expect(C.handshakeArgs).toBe(3)
    expect(S.handshakeArgs).toBe(3)
    expect(C.errors.handshake).toBeNull()
    // A server that requested no certificate reports the missing issuer, yet success is true.
    expectTlsError(S.errors.handshake, 'UNABLE_TO_GET_ISSUER_CERT', 'unable to get issuer certificate')
    expect(seen).toEqual({
      clientOpen: [false, false],
      serverOpen: [false, false],
      clientHandshake: true,
      serverHandshake: false,
    })
    expect(C.resolvedAuthorized).toBe(false)
    expect(Object.prototype.toString.call(client)).toBe('[object TLSSocket]')
    expect(client.authorized).toBe(true)
    expect(client.getAuthorizationError()).toBeNull()
    expect(S.sockets[0].authorized).toBe(false)
    expectTlsError(S.sockets[0].getAuthorizationError(), 'UNABLE_TO_GET_ISSUER_CERT', 'unable to get issuer certificate')
  })

  test('without handshake handlers: the promise resolves first, open after the handshake, then drain', async () => {
    const seen = {}
    const { S, C, client } = await tlsPair({
      server: { handshake: false, open: (s) => (seen.serverOpen = s.authorized) },
      client: { handshake: false, open: (s) => (seen.clientOpen = [s.authorized, s.write('hello')]) },
    })
    await C.until('drain')
    await S.until('drain')
    await waitFor(() => S.text() === 'hello', 5000, 'hello at the server')
    expect(C.events).toEqual(['resolved', 'open', 'drain'])
    // The server's order of `data` against `drain` is the network's; only open → drain is fixed.
    expect(S.events.filter((e) => e !== 'data')).toEqual(['open', 'drain'])
    expect(C.resolvedAuthorized).toBe(false)
    // By `open` the handshake is done: the client is authorized and can write.
    expect(seen).toEqual({ clientOpen: [true, 5], serverOpen: false })
    expect(client.authorized).toBe(true)
  })
})

// --- 2. writes around the handshake ----------------------------------------------------------------

test('a write before the handshake returns 0 and is dropped; 1 MiB each way after it arrives intact', async () => {
  const SIZE = 1024 * 1024
  const toServer = crypto.randomBytes(SIZE)
  const toClient = crypto.randomBytes(SIZE)
  const up = sender(toServer)
  const down = sender(toClient)
  const atServer = receiver(SIZE)
  const atClient = receiver(SIZE)
  const early = {}
  const { client, S } = await tlsPair({
    server: { data: atServer.data, handshake: (s) => down.pump(s), drain: (s) => down.pump(s) },
    client: {
      data: atClient.data,
      open: (s) => (early.inOpen = [s.write('early-open'), s.bytesWritten]),
      handshake: (s) => up.pump(s),
      drain: (s) => up.pump(s),
    },
  })
  // The promise resolves before the handshake: still too early.
  early.afterResolve = [client.write(Buffer.from('early-then')), client.bytesWritten]
  const [s, c] = await within(Promise.all([atServer.done, atClient.done, up.done, down.done]), 15000, 'transfer')
  await sleep(50) // nothing more may follow
  expect(early).toEqual({ inOpen: [0, 0], afterResolve: [0, 0] })
  expect(atServer.received()).toBe(SIZE)
  expect(s).toEqual({ received: SIZE, digest: sha256(toServer) })
  expect(c).toEqual({ received: SIZE, digest: sha256(toClient) })
  expect(client.bytesWritten).toBe(SIZE)
  expect(S.sockets[0].bytesWritten).toBe(SIZE)
}, 20000)

// --- 3. certificate failures ------------------------------------------------------------------------

const BAD_CERTS = [
  // [fixture, code, message, success of handshake when rejectUnauthorized is false]
  ['self-signed', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate', true],
  [
    'wrong-name',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    "Hostname/IP does not match certificate's altnames: Host: localhost. is not in the cert's altnames: DNS:example.test",
    false, // Bun reports success false for a name mismatch even though it keeps the connection
  ],
  ['expired', 'CERT_HAS_EXPIRED', 'certificate has expired', true],
]

describe('a refused server certificate', () => {
  for (const [name, code, message, successWhenKept] of BAD_CERTS) {
    const serverTls = { key: pem(`${name}-key.pem`), cert: pem(`${name}.pem`) }

    test(`${name}: handshake(false, ${code}), then close(undefined); the promise resolved, no error`, async () => {
      const seen = {}
      const { S, C, client } = await tlsPair({
        serverTls,
        client: { handshake: (s) => (seen.inHandshake = [s.authorized, codeOf(s.getAuthorizationError())]) },
        server: {},
      })
      await C.untilClosed()
      await S.untilClosed()
      expect(C.events).toEqual(['open', 'resolved', `handshake false ${code}`, 'close undefined'])
      expectTlsError(C.errors.handshake, code, message)
      expect(seen.inHandshake).toEqual([false, code])
      expect(client.readyState).toBe(-1)
      expect(client.authorized).toBe(false)
      expectTlsError(client.getAuthorizationError(), code, message)
      // The server sees the client hang up mid-handshake.
      expect(S.events).toEqual(['open', 'handshake false ECONNRESET', 'close undefined'])
      expect(S.errors.handshake).toBeInstanceOf(Error)
      expect(S.errors.handshake.code).toBe('ECONNRESET')
    })

    test(`${name}: without a handshake handler the client gets open (authorized false), then close`, async () => {
      const seen = {}
      const { S, C } = await tlsPair({
        serverTls,
        client: {
          handshake: false,
          open: (s) => (seen.inOpen = [s.authorized, s.getAuthorizationError()]),
        },
      })
      await C.untilClosed()
      await S.untilClosed()
      expect(C.events).toEqual(['resolved', 'open', 'close undefined'])
      expect(seen.inOpen[0]).toBe(false)
      expectTlsError(seen.inOpen[1], code, message)
      expect(S.events).toEqual(['open', 'handshake false ECONNRESET', 'close undefined'])
    })

    test(`${name}: rejectUnauthorized false keeps the connection usable and reports the error`, async () => {
      const seen = {}
      const { S, C, client } = await tlsPair({
        serverTls,
        clientTls: { ...CLIENT_TLS, rejectUnauthorized: false },
        client: { handshake: (s) => (seen.written = s.write('x')) },
      })
      await C.until('drain')
      await waitFor(() => S.text() === 'x', 5000, 'x at the server')
      expect(C.events).toEqual(['open', 'resolved', `handshake ${successWhenKept} ${code}`, 'drain'])
      expectTlsError(C.errors.handshake, code, message)
      expect(seen.written).toBe(1)
      expect(client.readyState).toBe(1)
      expect(client.authorized).toBe(false)
      expectTlsError(client.getAuthorizationError(), code, message)
      expect(client.write('more')).toBe(4)
      await waitFor(() => S.text() === 'xmore', 5000, 'more at the server')
      expect(S.has('close undefined')).toBe(false)
    })
  }

  test('tls: true on connect trusts only the default roots: our CA is refused, then close', async () => {
    const { S, C } = await tlsPair({ clientTls: true })
    await C.untilClosed()
    await S.untilClosed()
    expect(C.events).toEqual(['open', 'resolved', 'handshake false UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'close undefined'])
    expectTlsError(C.errors.handshake, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate')
    expect(S.events).toEqual(['open', 'handshake false ECONNRESET', 'close undefined'])
  })
})

// --- 4. protocol mismatch ----------------------------------------------------------------------------

describe('protocol mismatch', () => {
  test('a plain client speaking HTTP to a TLS server: server handshake(false, EPROTO), then close', async () => {
    const S = side()
    const C = side({ open: (s) => s.write('GET / HTTP/1.0\r\n\r\n') })
    const listener = track(listen({ hostname: '127.0.0.1', port: 0, tls: SERVER_TLS, socket: S.handlers }))
    const client = track(await within(connect({ hostname: '127.0.0.1', port: listener.port, socket: C.handlers }), 5000))
    await S.untilClosed()
    await C.untilClosed()
    expect(Object.prototype.toString.call(client)).toBe('[object TCPSocket]')
    expect(S.events).toEqual(['open', 'handshake false EPROTO', 'close undefined'])
    expect(S.errors.handshake).toBeInstanceOf(Error)
    expect(S.errors.handshake.code).toBe('EPROTO')
    // Whether an alert reaches the client first is the TLS library's business.
    expect(C.events.filter((e) => e !== 'data')).toEqual(['open', 'end', 'close undefined'])
  })

  test('a TLS client to a plain server that writes text: client handshake(false, EPROTO), then close', async () => {
    const S = side({ open: (s) => s.write('HELLO plain\r\n') })
    const C = side()
    const listener = track(listen({ hostname: '127.0.0.1', port: 0, socket: S.handlers }))
    const port = listener.port
    const client = track(await within(connect({ hostname: '127.0.0.1', port, tls: CLIENT_TLS, socket: C.handlers }), 5000))
    await C.untilClosed()
    await S.untilClosed()
    expect(Object.prototype.toString.call(client)).toBe('[object TLSSocket]')
    expect(C.events).toEqual(['open', 'handshake false EPROTO', 'close undefined'])
    expect(C.errors.handshake).toBeInstanceOf(Error)
    expect(C.errors.handshake.code).toBe('EPROTO')
    // The server got the ClientHello (a TLS handshake record, 0x16), then the client went away.
    expect(S.chunks[0][0]).toBe(0x16)
    expect(S.events).toEqual(['open', 'data', 'end', 'close undefined'])
  })
})

// --- 5. ALPN -----------------------------------------------------------------------------------------

describe('ALPN (wire format: length-prefixed names)', () => {
  /** A pair whose sides record alpnProtocol in open, handshake and close. */
  async function alpnPair(serverAlpn, clientAlpn) {
    const seen = { S: [], C: [] }
    const at = (tag, where) => (s) => seen[tag].push(`${where} ${s.alpnProtocol}`)
    const hooks = (tag) => ({ open: at(tag, 'open'), handshake: at(tag, 'handshake'), close: at(tag, 'close') })
    const p = await tlsPair({
      serverTls: { ...SERVER_TLS, ALPNProtocols: serverAlpn },
      clientTls: { ...CLIENT_TLS, ALPNProtocols: clientAlpn },
      server: hooks('S'),
      client: hooks('C'),
    })
    return { ...p, seen }
  }

  test('server h2,http/1.1 and client http/1.1 agree on http/1.1, from the handshake on', async () => {
    const { S, C, client, seen } = await alpnPair('\x02h2\x08http/1.1', '\x08http/1.1')
    await C.until('drain')
    await S.until('drain')
    expect(C.events).toEqual(['open', 'resolved', 'handshake true null', 'drain'])
    expect(client.alpnProtocol).toBe('http/1.1')
    expect(S.sockets[0].alpnProtocol).toBe('http/1.1')
    client.end()
    await C.untilClosed()
    await S.untilClosed()
    // false (not null) before the handshake, and again once closed.
    expect(seen.C).toEqual(['open false', 'handshake http/1.1', 'close false'])
    expect(seen.S).toEqual(['open false', 'handshake http/1.1', 'close false'])
  })

  test("the server's preference wins; Buffer and Uint8Array forms work too", async () => {
    const { S, C, client } = await alpnPair(
      Buffer.from('\x02h2\x08http/1.1', 'latin1'),
      new Uint8Array(Buffer.from('\x08http/1.1\x02h2', 'latin1')),
    )
    await C.until('handshake true null')
    await S.until('handshake true UNABLE_TO_GET_ISSUER_CERT')
    expect(client.alpnProtocol).toBe('h2')
    expect(S.sockets[0].alpnProtocol).toBe('h2')
  })

  test('no protocol in common fails the handshake on both sides (EPROTO), then both close', async () => {
    const { S, C, seen } = await alpnPair('\x03foo', '\x03bar')
    await C.untilClosed()
    await S.untilClosed()
    expect(C.events).toEqual(['open', 'resolved', 'handshake false EPROTO', 'close undefined'])
    expect(S.events).toEqual(['open', 'handshake false EPROTO', 'close undefined'])
    expect(C.errors.handshake.code).toBe('EPROTO')
    expect(S.errors.handshake.code).toBe('EPROTO')
    expect(seen.C).toEqual(['open false', 'handshake false', 'close false'])
  })

  test('an array (Node form) is a synchronous TypeError on listen and on connect', async () => {
    const message = 'TLSOptions.ALPNProtocols must be of type string, ArrayBuffer, or null'
    const listener = track(listen({ hostname: '127.0.0.1', port: 0, tls: SERVER_TLS, socket: { data() {} } }))
    const errors = [
      thrown(() =>
        listen({ hostname: '127.0.0.1', port: 0, tls: { ...SERVER_TLS, ALPNProtocols: ['h2'] }, socket: { data() {} } }),
      ),
      thrown(() => connect({
        hostname: '127.0.0.1',
        port: listener.port,
        tls: { ...CLIENT_TLS, ALPNProtocols: ['h2', 'http/1.1'] },
        socket: { data() {} },
      })),
    ]
    for (const err of errors) {
      expect(err).toBeInstanceOf(TypeError)
      expect(err).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message })
    }
  })
})

// --- 6. mutual TLS --------------------------------------------------------------------------------

describe('mutual TLS (requestCert + rejectUnauthorized + ca on the server)', () => {
  test('with client.pem both sides are authorized and data flows both ways', async () => {
    const { S, C, client } = await tlsPair({
      serverTls: MTLS_SERVER,
      clientTls: { ...CLIENT_TLS, ...CLIENT_CERT },
      server: { handshake: (s, ok) => ok && s.write('S-hi') },
      client: { handshake: (s, ok) => ok && s.write('C-hi') },
    })
    await waitFor(() => S.text() === 'C-hi' && C.text() === 'S-hi', 5000, 'greetings both ways')
    expect(C.events.slice(0, 3)).toEqual(['open', 'resolved', 'handshake true null'])
    expect(S.events.slice(0, 2)).toEqual(['open', 'handshake true null'])
    const server = S.sockets[0]
    expect(client.authorized).toBe(true)
    expect(server.authorized).toBe(true)
    expect(server.getAuthorizationError()).toBeNull()
    expect(server.getPeerCertificate().subject.CN).toBe(CLIENT_CN)
    expect(client.getPeerCertificate().subject.CN).toBe('localhost')
  })

  test('without a client certificate: server handshake(false, EPROTO); the client gets error EPROTO, then close', async () => {
    const { S, C } = await tlsPair({ serverTls: MTLS_SERVER })
    await S.untilClosed()
    await C.untilClosed()
    expect(S.events).toEqual(['open', 'handshake false EPROTO', 'close undefined'])
    expect(S.errors.handshake.code).toBe('EPROTO')
    // TLS 1.3: the client's own handshake finished before the server judged it.
    expect(C.events.filter((e) => e !== 'drain')).toEqual([
      'open',
      'resolved',
      'handshake true null',
      'error EPROTO',
      'close undefined',
    ])
    expect(C.errors.error).toBeInstanceOf(Error)
    expect(C.errors.error.code).toBe('EPROTO')
  })

  test('a self-signed client certificate: server handshake(true, UNABLE_TO_VERIFY_LEAF_SIGNATURE), then it closes', async () => {
    const seen = {}
    const { S, C } = await tlsPair({
      serverTls: MTLS_SERVER,
      clientTls: { ...CLIENT_TLS, key: pem('self-signed-key.pem'), cert: pem('self-signed.pem') },
      server: { handshake: (s) => (seen.serverAuthorized = s.authorized) },
    })
    await S.untilClosed()
    await C.untilClosed()
    expect(S.events).toEqual(['open', 'handshake true UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'close undefined'])
    expectTlsError(S.errors.handshake, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate')
    expect(seen.serverAuthorized).toBe(false)
    expect(C.events.slice(0, 3)).toEqual(['open', 'resolved', 'handshake true null'])
    expect(C.events[C.events.length - 1]).toBe('close undefined')
  })
})

// --- 7. option forms ----------------------------------------------------------------------------------

describe('tls option forms', () => {
  const buf = (name) => fs.readFileSync(certPath(name))
  const u8 = (name) => new Uint8Array(buf(name))
  const each = (read, ca, key, cert) => ({ ca: read(ca), key: read(key), cert: read(cert) })

  /** Connects with `clientTls` to a listener with `serverTls`; resolves once both handshakes ran. */
  async function handshakes(serverTls, clientTls) {
    const p = await tlsPair({ serverTls, clientTls })
    await p.C.until('drain')
    await p.S.until('drain')
    return p
  }

  const serverForms = [
    ['key/cert as strings', SERVER_TLS],
    ['key/cert as Buffers', { key: buf('server-key.pem'), cert: buf('server.pem') }],
    ['key/cert as Uint8Arrays', { key: u8('server-key.pem'), cert: u8('server.pem') }],
    ['key/cert as arrays of strings', { key: [pem('server-key.pem')], cert: [pem('server.pem')] }],
    ['key/cert as arrays of Buffers', { key: [buf('server-key.pem')], cert: [buf('server.pem')] }],
    ['keyFile/certFile paths', { keyFile: certPath('server-key.pem'), certFile: certPath('server.pem') }],
    ['an encrypted key with its passphrase', { ...SERVER_TLS, key: pem('server-key-encrypted.pem'), passphrase: 'secret' }],
    ['a chain (leaf + CA) as cert', { key: pem('server-key.pem'), cert: pem('server-chain.pem') }],
    ['an RSA key and certificate', { key: pem('server-rsa-key.pem'), cert: pem('server-rsa.pem') }],
  ]
  for (const [title, serverTls] of serverForms) {
    test(`server: ${title}`, async () => {
      const { C, client } = await handshakes(serverTls, CLIENT_TLS)
      expect(C.events).toEqual(['open', 'resolved', 'handshake true null', 'drain'])
      expect(client.authorized).toBe(true)
      expect(client.getPeerCertificate().subject.CN).toBe('localhost')
    })
  }

  // An encrypted copy of the client key, made here so the fixtures stay as make-certs.sh writes them.
  const encryptedClientKey = () =>
    crypto
      .createPrivateKey(pem('client-key.pem'))
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' })
  const clientForms = [
    ['ca/key/cert as strings', () => ({ ...CLIENT_TLS, ...CLIENT_CERT })],
    ['ca/key/cert as Buffers', () => ({ serverName: 'localhost', ...each(buf, 'ca.pem', 'client-key.pem', 'client.pem') })],
    ['ca/key/cert as Uint8Arrays', () => ({ serverName: 'localhost', ...each(u8, 'ca.pem', 'client-key.pem', 'client.pem') })],
    ['ca/key/cert as arrays (ca with an extra, unrelated root)', () => ({
      serverName: 'localhost',
      ca: [pem('self-signed.pem'), buf('ca.pem')],
      key: [pem('client-key.pem')],
      cert: [buf('client.pem')],
    })],
    ['caFile/keyFile/certFile paths', () => ({
      serverName: 'localhost',
      caFile: certPath('ca.pem'),
      keyFile: certPath('client-key.pem'),
      certFile: certPath('client.pem'),
    })],
    ['an encrypted key with its passphrase', () => ({ ...CLIENT_TLS, ...CLIENT_CERT, key: encryptedClientKey(), passphrase: 'secret' })],
  ]
  for (const [title, makeTls] of clientForms) {
    test(`client: ${title} (against a server that requires a client certificate)`, async () => {
      const { S, C, client } = await handshakes(MTLS_SERVER, makeTls())
      expect(C.events).toEqual(['open', 'resolved', 'handshake true null', 'drain'])
      expect(S.events).toEqual(['open', 'handshake true null', 'drain'])
      expect(client.authorized).toBe(true)
      expect(S.sockets[0].authorized).toBe(true)
      expect(S.sockets[0].getPeerCertificate().subject.CN).toBe(CLIENT_CN)
    })
  }

  test('client: servername (Node spelling) is an alias of serverName', async () => {
    const { C, client } = await handshakes(SERVER_TLS, { ca: pem('ca.pem'), servername: 'localhost' })
    expect(C.events).toEqual(['open', 'resolved', 'handshake true null', 'drain'])
    expect(client.getServername()).toBe('localhost')
  })

  test('client: serverName wins over servername', async () => {
    const good = await handshakes(SERVER_TLS, { ca: pem('ca.pem'), serverName: 'localhost', servername: 'example.test' })
    expect(good.C.events).toEqual(['open', 'resolved', 'handshake true null', 'drain'])
    const bad = await tlsPair({ clientTls: { ca: pem('ca.pem'), serverName: 'example.test', servername: 'localhost' } })
    await bad.C.untilClosed()
    expect(bad.C.events).toEqual(['open', 'resolved', 'handshake false ERR_TLS_CERT_ALTNAME_INVALID', 'close undefined'])
    expect(bad.C.errors.handshake.message).toBe(
      "Hostname/IP does not match certificate's altnames: Host: example.test. is not in the cert's altnames: " +
        'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    )
  })

  test('tls: {} is plain TCP on both listen and connect', async () => {
    const S = side()
    const C = side()
    const listener = track(listen({ hostname: '127.0.0.1', port: 0, tls: {}, socket: S.handlers }))
    const port = listener.port
    const client = track(await within(connect({ hostname: '127.0.0.1', port, tls: {}, socket: C.handlers }), 5000))
    expect(client.write('plain')).toBe(5)
    await waitFor(() => S.text() === 'plain', 5000, 'plain text at the server')
    expect(Object.prototype.toString.call(client)).toBe('[object TCPSocket]')
    expect(Object.prototype.toString.call(S.sockets[0])).toBe('[object TCPSocket]')
    expect(S.events).toEqual(['open', 'data'])
    expect(C.events).toEqual(['open'])
  })
})

// --- 8. write() and drain ---------------------------------------------------------------------------

test('write() counts plaintext bytes; against a paused peer it reaches 0, one drain after resume, no loss', async () => {
  const paused = deferred()
  const hash = crypto.createHash('sha256')
  let accepted = 0
  const { S, C, client } = await tlsPair({
    server: {
      handshake: (s) => {
        s.pause()
        paused.resolve()
      },
    },
  })
  await C.until('drain') // the drain that follows the handshake
  await within(paused.promise, 5000, 'server pause')
  const write = (data) => {
    const n = client.write(data)
    expect(n).toBeGreaterThanOrEqual(0)
    hash.update(Buffer.from(data).subarray(0, n))
    accepted += n
    return n
  }
  // Plaintext bytes, not TLS record sizes.
  expect(write(Buffer.from('héllo'))).toBe(6)
  expect(write(Buffer.alloc(20000, 7))).toBe(20000)
  expect(client.bytesWritten).toBe(20006)

  const drainsBefore = C.events.filter((e) => e === 'drain').length
  const pool = [0, 1, 2, 3].map(() => crypto.randomBytes(256 * 1024))
  const returns = []
  for (let i = 0; i < 2000 && (returns.length === 0 || returns[returns.length - 1] > 0); i++) {
    const chunk = pool[i % pool.length]
    const n = write(chunk)
    expect(n).toBeLessThanOrEqual(chunk.length)
    returns.push(n)
  }
  expect(returns[returns.length - 1]).toBe(0)
  expect(client.write('tail')).toBe(0)
  expect(client.bytesWritten).toBe(accepted)

  S.sockets[0].resume()
  await waitFor(() => Buffer.concat(S.chunks).length >= accepted, 15000, `${accepted} bytes at the server`)
  await C.until('drain')
  await sleep(100) // no extra drain, no extra bytes
  expect(C.events.filter((e) => e === 'drain').length - drainsBefore).toBe(1)
  const got = Buffer.concat(S.chunks)
  expect(got.length).toBe(accepted)
  expect(sha256(got)).toBe(hash.digest('hex'))
  expect(client.write('after')).toBe(5)
}, 25000)

// --- 9. closing ------------------------------------------------------------------------------------

describe('closing', () => {
  test('end(): a graceful close, the peer gets end, then close(undefined)', async () => {
    const { S, C, client } = await tlsPair()
    await C.until('drain')
    await S.until('drain')
    expect(client.write('bye')).toBe(3)
    expect(client.end()).toBe(0)
    await S.untilClosed()
    await C.untilClosed()
    expect(S.text()).toBe('bye')
    expect(S.events.slice(2)).toEqual(['drain', 'data', 'end', 'close undefined'])
    expect(C.events).toEqual(['open', 'resolved', 'handshake true null', 'drain', 'close undefined'])
    expect(client.readyState).toBe(-1)
    expect(client.write('late')).toBe(-1)
  })

  test('a server-side end() mirrors it', async () => {
    const { S, C } = await tlsPair()
    await C.until('drain')
    await S.until('drain')
    expect(S.sockets[0].end('bye')).toBe(3)
    await C.untilClosed()
    await S.untilClosed()
    expect(C.text()).toBe('bye')
    expect(C.events.slice(4)).toEqual(['data', 'end', 'close undefined'])
    expect(S.events[S.events.length - 1]).toBe('close undefined')
  })

  test('terminate(): own close(undefined) at once; the peer gets close without end', async () => {
    const { S, C, client } = await tlsPair()
    await C.until('drain')
    await S.until('drain')
    expect(client.terminate()).toBeUndefined()
    expect(C.has('close undefined')).toBe(true)
    await S.untilClosed()
    expect(S.events.slice(3)).toEqual(['close ECONNRESET'])
    expect(S.errors.close).toBeInstanceOf(Error)
  })
})
