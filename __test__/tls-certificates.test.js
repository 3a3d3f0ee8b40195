'use strict'
// The certificate getters of a TLSSocket: getPeerCertificate(), getCertificate() and their
// crypto.X509Certificate forms, on real TLS over 127.0.0.1 with the fixture certificates (P-256
// server, RSA server, mutual TLS). Runs under Jest (bun → package) and `bun test` (real Bun); the
// expectations are Bun 1.4.4's (docs/reference/bun-tls.md, Q4). Values that come from the
// certificate are checked against Node's crypto.X509Certificate of the same fixture.

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { listen, connect } = require('bun')
const { deferred, within } = require('./helpers')

// --- certificates -----------------------------------------------------------------------------

const pem = (name) => fs.readFileSync(path.join(__dirname, 'fixtures', 'certs', name), 'utf8')
const x509 = (name) => new crypto.X509Certificate(pem(name))

const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const RSA_SERVER_TLS = { key: pem('server-rsa-key.pem'), cert: pem('server-rsa.pem') }
const MTLS_SERVER_TLS = { ...SERVER_TLS, ca: pem('ca.pem'), requestCert: true }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }
const MTLS_CLIENT_TLS = { ...CLIENT_TLS, key: pem('client-key.pem'), cert: pem('client.pem') }

const CA_CN = 'bun-sockets Test CA'
const CLIENT_CN = 'bun-sockets test client'
const LOCAL_SAN = 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1'
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

// Bun's key order: infoAccess is present (undefined) without the extension, `ca` comes last.
const EC_KEYS = [
  'subject', 'issuer', 'subjectaltname', 'infoAccess', 'bits', 'pubkey', 'asn1Curve', 'nistCurve',
  'valid_from', 'valid_to', 'fingerprint', 'fingerprint256', 'fingerprint512', 'ext_key_usage',
  'serialNumber', 'raw', 'ca',
]
const RSA_KEYS = [
  'subject', 'issuer', 'subjectaltname', 'infoAccess', 'modulus', 'exponent', 'bits', 'pubkey',
  'valid_from', 'valid_to', 'fingerprint', 'fingerprint256', 'fingerprint512', 'ext_key_usage',
  'serialNumber', 'raw', 'ca',
]

// --- local helpers ------------------------------------------------------------------------------

/**
 * Opens a TLS listener on 127.0.0.1:0 and connects one client, waits for both `handshake`
 * events, runs `check({ client, server })` (the sockets as their handshake handlers saw them),
 * and closes both sockets and the listener whatever happened.
 */
async function withPair(serverTls, clientTls, check) {
  const shaken = { client: deferred(), server: deferred() }
  const sockets = []
  const handlers = (side) => ({
    open(socket) {
      sockets.push(socket)
    },
    data() {},
    handshake(socket) {
      shaken[side].resolve(socket)
    },
    error(socket, err) {
      shaken[side].reject(err)
    },
  })
  let listener
  try {
    listener = listen({ hostname: '127.0.0.1', port: 0, tls: serverTls, socket: handlers('server') })
    const connected = connect({ hostname: '127.0.0.1', port: listener.port, tls: clientTls, socket: handlers('client') })
    const socket = await within(connected, 5000, 'connect')
    if (!sockets.includes(socket)) sockets.push(socket)
    const [client, server] = await within(Promise.all([shaken.client.promise, shaken.server.promise]), 5000, 'handshakes')
    await check({ client, server })
  } finally {
    for (const socket of sockets) socket.terminate()
    if (listener !== undefined) listener.stop(true)
  }
}

/** The values every certificate object shares with crypto.X509Certificate of `fixture`. */
function expectSameCertificate(cert, fixture) {
  const x = x509(fixture)
  expect(Object.getPrototypeOf(cert)).toBe(Object.prototype)
  expect(Object.getPrototypeOf(cert.subject)).toBeNull()
  expect(Object.getPrototypeOf(cert.issuer)).toBeNull()
  expect(cert.subjectaltname).toBe(x.subjectAltName)
  expect('infoAccess' in cert).toBe(true)
  expect(cert.infoAccess).toBeUndefined()
  expect(Buffer.isBuffer(cert.pubkey)).toBe(true)
  expect(cert.valid_from).toBe(x.validFrom)
  expect(cert.valid_to).toBe(x.validTo)
  expect(cert.fingerprint).toBe(x.fingerprint)
  expect(cert.fingerprint256).toBe(x.fingerprint256)
  expect(cert.fingerprint512).toBe(x.fingerprint512)
  expect(cert.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
  expect(cert.serialNumber).toBe(x.serialNumber)
  expect(cert.serialNumber).toMatch(/^[0-9A-F]+$/)
  expect(Buffer.isBuffer(cert.raw)).toBe(true)
  expect(Buffer.compare(cert.raw, x.raw)).toBe(0)
  expect(cert.ca).toBe(false)
}

/** An X509Certificate for `fixture`, and a new object on each call of `get`. */
function expectX509(get, fixture) {
  const first = get()
  expect(first).toBeInstanceOf(crypto.X509Certificate)
  expect(get()).not.toBe(first)
  expect(first.fingerprint256).toBe(x509(fixture).fingerprint256)
  expect(Buffer.compare(first.raw, x509(fixture).raw)).toBe(0)
}

// --- 1. a P-256 server certificate, no client certificate --------------------------------------

describe('P-256 server certificate', () => {
  test("client getPeerCertificate(): Bun's keys, in Bun's order, with the server certificate's values", async () => {
    await withPair(SERVER_TLS, CLIENT_TLS, ({ client }) => {
      const cert = client.getPeerCertificate()
      expect(Object.keys(cert)).toEqual(EC_KEYS)
      expect({ ...cert.subject }).toEqual({ CN: 'localhost' })
      expect({ ...cert.issuer }).toEqual({ CN: CA_CN })
      expect(cert.subject.CN).toBe('localhost')
      expect(cert.issuer.CN).toBe(CA_CN)
      expect(cert.subjectaltname).toBe(LOCAL_SAN)
      expect(cert.ext_key_usage).toEqual([SERVER_AUTH])
      expect(cert.bits).toBe(256)
      expect(cert.asn1Curve).toBe('prime256v1')
      expect(cert.nistCurve).toBe('P-256')
      expect(cert.valid_from).toBe('Jan  1 00:00:00 2020 GMT')
      expect(cert.valid_to).toBe('Jan  1 00:00:00 2120 GMT')
      // The uncompressed point: the tail of the key's SubjectPublicKeyInfo.
      const spki = x509('server.pem').publicKey.export({ type: 'spki', format: 'der' })
      expect(cert.pubkey.length).toBe(65)
      expect(Buffer.compare(cert.pubkey, spki.subarray(spki.length - 65))).toBe(0)
      expectSameCertificate(cert, 'server.pem')
    })
  })

  test('getPeerCertificate() and getPeerCertificate(true): a new object per call, no issuerCertificate', async () => {
    await withPair(SERVER_TLS, CLIENT_TLS, ({ client }) => {
      const first = client.getPeerCertificate()
      expect(client.getPeerCertificate()).not.toBe(first)
      const abbreviated = client.getPeerCertificate(true)
      expect(Object.keys(abbreviated)).toEqual(EC_KEYS)
      expect('issuerCertificate' in abbreviated).toBe(false)
      expect('issuerCertificate' in first).toBe(false)
      expect(abbreviated.fingerprint256).toBe(first.fingerprint256)
    })
  })

  test('client getPeerX509Certificate(): a crypto.X509Certificate, new on each call', async () => {
    await withPair(SERVER_TLS, CLIENT_TLS, ({ client }) => {
      expectX509(() => client.getPeerX509Certificate(), 'server.pem')
      expect(client.getPeerX509Certificate().subject).toBe('CN=localhost')
      expect(client.getPeerX509Certificate().issuer).toBe(`CN=${CA_CN}`)
    })
  })

  test("server getCertificate() and getX509Certificate() describe the server's own certificate", async () => {
    await withPair(SERVER_TLS, CLIENT_TLS, ({ server }) => {
      const cert = server.getCertificate()
      expect(Object.keys(cert)).toEqual(EC_KEYS)
      expect(cert.subject.CN).toBe('localhost')
      expect(cert.ext_key_usage).toEqual([SERVER_AUTH])
      expectSameCertificate(cert, 'server.pem')
      expect(server.getCertificate()).not.toBe(cert)
      expectX509(() => server.getX509Certificate(), 'server.pem')
    })
  })

  test('without a client certificate: undefined on the client (own) and on the server (peer)', async () => {
    await withPair(SERVER_TLS, CLIENT_TLS, ({ client, server }) => {
      expect(client.getCertificate()).toBeUndefined()
      expect(client.getX509Certificate()).toBeUndefined()
      expect(server.getPeerCertificate()).toBeUndefined()
      expect(server.getPeerCertificate(true)).toBeUndefined()
      expect(server.getPeerX509Certificate()).toBeUndefined()
    })
  })
})

// --- 2. an RSA server certificate ---------------------------------------------------------------

describe('RSA server certificate', () => {
  test('getPeerCertificate(): modulus, exponent, bits and pubkey instead of the curve', async () => {
    await withPair(RSA_SERVER_TLS, CLIENT_TLS, ({ client, server }) => {
      const cert = client.getPeerCertificate()
      expect(Object.keys(cert)).toEqual(RSA_KEYS)
      expect(cert.subject.CN).toBe('localhost')
      expect(cert.issuer.CN).toBe(CA_CN)
      expect(cert.subjectaltname).toBe(LOCAL_SAN)
      expect(cert.ext_key_usage).toEqual([SERVER_AUTH])
      expect(cert.bits).toBe(2048)
      expect(cert.exponent).toBe('0x10001')
      const key = x509('server-rsa.pem').publicKey
      const n = Buffer.from(key.export({ format: 'jwk' }).n, 'base64url').toString('hex').toUpperCase()
      expect(cert.modulus).toBe(n)
      expect(cert.modulus).toMatch(/^[0-9A-F]{512}$/)
      // pubkey is the DER SubjectPublicKeyInfo.
      expect(Buffer.compare(cert.pubkey, key.export({ type: 'spki', format: 'der' }))).toBe(0)
      expect('asn1Curve' in cert).toBe(false)
      expect('nistCurve' in cert).toBe(false)
      expectSameCertificate(cert, 'server-rsa.pem')
      expectX509(() => client.getPeerX509Certificate(), 'server-rsa.pem')
      expect(Object.keys(server.getCertificate())).toEqual(RSA_KEYS)
      expect(server.getCertificate().modulus).toBe(n)
    })
  })
})

// --- 3. mutual TLS ------------------------------------------------------------------------------

describe('mutual TLS', () => {
  test("each side sees the other's certificate as its peer's and its own as getCertificate()", async () => {
    await withPair(MTLS_SERVER_TLS, MTLS_CLIENT_TLS, ({ client, server }) => {
      const clientCert = server.getPeerCertificate()
      expect(Object.keys(clientCert)).toEqual(EC_KEYS)
      expect(clientCert.subject.CN).toBe(CLIENT_CN)
      expect(clientCert.issuer.CN).toBe(CA_CN)
      expect(clientCert.subjectaltname).toBe('DNS:client.test')
      expect(clientCert.ext_key_usage).toEqual([CLIENT_AUTH])
      expectSameCertificate(clientCert, 'client.pem')
      expect('issuerCertificate' in server.getPeerCertificate(true)).toBe(false)
      expectX509(() => server.getPeerX509Certificate(), 'client.pem')

      const own = client.getCertificate()
      expect(Object.keys(own)).toEqual(EC_KEYS)
      expect(own.subject.CN).toBe(CLIENT_CN)
      expectSameCertificate(own, 'client.pem')
      expectX509(() => client.getX509Certificate(), 'client.pem')

      expect(client.getPeerCertificate().subject.CN).toBe('localhost')
      expectSameCertificate(client.getPeerCertificate(), 'server.pem')
      expect(server.getCertificate().subject.CN).toBe('localhost')
      expectX509(() => server.getX509Certificate(), 'server.pem')
    })
  })
})

// --- 4. getPeerCertificate(false) ---------------------------------------------------------------

// Bun names the argument `abbreviated`: false asks for the detailed form, true (or nothing) for
// the plain one, and anything else throws.
describe('getPeerCertificate(false)', () => {
  test('links issuerCertificate up to the trusted CA, which links to itself', async () => {
    await withPair(SERVER_TLS, CLIENT_TLS, ({ client }) => {
      const cert = client.getPeerCertificate(false)
      expect(Object.keys(cert)).toEqual([...EC_KEYS, 'issuerCertificate'])
      expectSameCertificate(cert, 'server.pem')
      const ca = cert.issuerCertificate
      expect(Object.keys(ca)).toEqual([...EC_KEYS, 'issuerCertificate'])
      expect(ca.subject.CN).toBe(CA_CN)
      expect(ca.ca).toBe(true)
      expect(Buffer.compare(ca.raw, x509('ca.pem').raw)).toBe(0)
      expect(ca.issuerCertificate).toBe(ca)
    })
  })

  test('an argument that is not a boolean throws, even undefined', async () => {
    await withPair(SERVER_TLS, CLIENT_TLS, ({ client }) => {
      for (const arg of [undefined, null, 0, 1, 'true']) {
        expect(() => client.getPeerCertificate(arg)).toThrow('Expected abbreviated to be a boolean')
      }
    })
  })
})
