'use strict'
// Which server certificates a client trusts, and which names they must carry: a self-signed
// certificate given as `ca` (how most test suites pin a server), an untrusted self-signed one
// (DEPTH_ZERO_SELF_SIGNED_CERT), the common-name fallback of the identity check, and
// NODE_EXTRA_CA_CERTS. Real TLS over 127.0.0.1; the expectations are Bun 1.4.4's
// (docs/reference/bun-tls.md, "Trust and identity"). Runs under Jest and `bun test`.

const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { listen, connect } = require('bun')
const { deferred, within, autoClose } = require('./helpers')

const CERTS = path.join(__dirname, 'fixtures', 'certs')
const pem = (name) => fs.readFileSync(path.join(CERTS, name), 'utf8')
const identity = (name) => ({ key: pem(`${name}-key.pem`), cert: pem(`${name}.pem`) })

const track = autoClose()

/**
 * Serves `serverCert` on 127.0.0.1 and connects with `clientTls` (host 127.0.0.1 unless
 * `hostname`), until the client's handshake. Resolves { success, error, authorized, closed,
 * socket }: `closed` tells whether the client closed right after its handshake handler.
 */
async function handshake(serverCert, clientTls, hostname = '127.0.0.1') {
  const listener = track(listen({ hostname: '127.0.0.1', port: 0, tls: identity(serverCert), socket: { data() {}, error() {} } }))
  const result = deferred()
  const closed = deferred()
  const socket = track(
    await within(
      connect({
        hostname,
        port: listener.port,
        tls: clientTls,
        socket: {
          data() {},
          handshake(s, success, error) {
            result.resolve({ success, error, authorized: s.authorized })
          },
          close() {
            closed.resolve(true)
          },
        },
      }),
      5000,
      'connect',
    ),
  )
  const outcome = await within(result.promise, 5000, 'client handshake')
  outcome.closed = await Promise.race([closed.promise, new Promise((r) => setTimeout(r, 100, false))])
  outcome.socket = socket
  return outcome
}

/** Bun's shape for a certificate error: a plain Error with own keys code and errno (0). */
function expectCertError(err, code, message) {
  expect(err).toBeInstanceOf(Error)
  expect({ code: err.code, errno: err.errno, message: err.message, keys: Object.keys(err).sort() }).toEqual({
    code,
    errno: 0,
    message,
    keys: ['code', 'errno'],
  })
}

const SELF_SIGNED = 'self signed certificate'
const ALTNAMES = "Hostname/IP does not match certificate's altnames: "

// --- names no certificate can carry ----------------------------------------------------------------

// Bun takes any string as the name to check and send (`connect({ hostname: ' 127.0.0.1 ', tls })`
// rejects its promise with ENOTFOUND, after a DNS lookup of that string: so these use names that
// need no lookup, 127.1 and 2130706433, and `serverName`). connect() returns its promise; the
// handshake fails on the certificate's names, quoting the name given.
describe('a server name that is no DNS name or IP address', () => {
  const altnames = 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1'
  for (const [hostname, serverName] of [['127.1', undefined], ['2130706433', undefined], ['127.0.0.1', ' 127.0.0.1 '], ['127.0.0.1', 'a b']]) {
    const name = serverName ?? hostname
    test(`${JSON.stringify(name)} (${serverName === undefined ? 'hostname' : 'serverName'}): no throw; handshake(false, ERR_TLS_CERT_ALTNAME_INVALID)`, async () => {
      const out = await handshake('server', { ca: pem('ca.pem'), serverName }, hostname)
      expect([out.success, out.authorized, out.closed]).toEqual([false, false, true])
      expectCertError(out.error, 'ERR_TLS_CERT_ALTNAME_INVALID', `${ALTNAMES}Host: ${name}. is not in the cert's altnames: ${altnames}`)
    })
  }
})

// --- 1. self-signed certificates ------------------------------------------------------------------

describe('a self-signed server certificate', () => {
  test('given as `ca` (CA:TRUE, the usual pinned test server) it is trusted: handshake(true, null)', async () => {
    const out = await handshake('self-signed-ca', { ca: pem('self-signed-ca.pem'), serverName: 'localhost' })
    expect([out.success, out.error, out.authorized, out.closed]).toEqual([true, null, true, false])
    expect(out.socket.getAuthorizationError()).toBeNull()
  })

  test('given as `ca`, its IP address names the host too', async () => {
    const out = await handshake('self-signed-ca', { ca: [pem('self-signed-ca.pem')] })
    expect([out.success, out.error, out.authorized]).toEqual([true, null, true])
  })

  test('given as `ca` without CA:TRUE (keyUsage without certSign) it is trusted as well', async () => {
    const out = await handshake('self-signed', { ca: pem('self-signed.pem'), serverName: 'localhost' })
    expect([out.success, out.error, out.authorized]).toEqual([true, null, true])
  })

  test('given as `ca`, it must still name the host', async () => {
    const out = await handshake('self-signed-ca', { ca: pem('self-signed-ca.pem'), serverName: 'example.test' })
    expect([out.success, out.authorized, out.closed]).toEqual([false, false, true])
    expectCertError(
      out.error,
      'ERR_TLS_CERT_ALTNAME_INVALID',
      `${ALTNAMES}Host: example.test. is not in the cert's altnames: DNS:localhost, IP Address:127.0.0.1`,
    )
  })

  test('untrusted, it is DEPTH_ZERO_SELF_SIGNED_CERT and the client closes', async () => {
    const out = await handshake('self-signed-ca', { serverName: 'localhost' })
    expect([out.success, out.authorized, out.closed]).toEqual([false, false, true])
    expectCertError(out.error, 'DEPTH_ZERO_SELF_SIGNED_CERT', SELF_SIGNED)
    expectCertError(out.socket.getAuthorizationError(), 'DEPTH_ZERO_SELF_SIGNED_CERT', SELF_SIGNED)
  })

  test('untrusted with rejectUnauthorized false: handshake(true, DEPTH_ZERO_SELF_SIGNED_CERT), kept open', async () => {
    const out = await handshake('self-signed-ca', { serverName: 'localhost', rejectUnauthorized: false })
    expect([out.success, out.authorized, out.closed]).toEqual([true, false, false])
    expectCertError(out.error, 'DEPTH_ZERO_SELF_SIGNED_CERT', SELF_SIGNED)
  })

  test('untrusted next to an unrelated `ca`, it is DEPTH_ZERO_SELF_SIGNED_CERT too', async () => {
    const out = await handshake('self-signed-ca', { ca: pem('ca.pem'), serverName: 'localhost' })
    expectCertError(out.error, 'DEPTH_ZERO_SELF_SIGNED_CERT', SELF_SIGNED)
  })

  test('one whose keyUsage forbids signing certificates cannot have signed itself: UNABLE_TO_VERIFY_LEAF_SIGNATURE', async () => {
    const out = await handshake('self-signed', { serverName: 'localhost' })
    expectCertError(out.error, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate')
  })

  test('a CA-issued certificate given as its own `ca` is no trust anchor: UNABLE_TO_VERIFY_LEAF_SIGNATURE', async () => {
    const out = await handshake('server', { ca: pem('server.pem'), serverName: 'localhost' })
    expectCertError(out.error, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate')
  })
})

// --- 2. the identity check --------------------------------------------------------------------------

describe('a certificate without subjectAltName is matched against its subject CN', () => {
  const CA = { ca: pem('ca.pem') }

  test('serverName equal to the CN is authorized, in any case', async () => {
    for (const serverName of ['cn-only.test', 'CN-Only.TEST']) {
      const out = await handshake('cn-only', { ...CA, serverName })
      expect([serverName, out.success, out.error, out.authorized]).toEqual([serverName, true, null, true])
    }
  })

  test("another name is refused with Bun's words: Host: localhost. is not cert's CN: cn-only.test", async () => {
    const out = await handshake('cn-only', { ...CA, serverName: 'localhost' })
    expect([out.success, out.authorized, out.closed]).toEqual([false, false, true])
    expectCertError(out.error, 'ERR_TLS_CERT_ALTNAME_INVALID', `${ALTNAMES}Host: localhost. is not cert's CN: cn-only.test`)
  })

  test('with rejectUnauthorized false the mismatch is reported (success false) and the connection kept', async () => {
    const out = await handshake('cn-only', { ...CA, serverName: 'localhost', rejectUnauthorized: false })
    expect([out.success, out.authorized, out.closed]).toEqual([false, false, false])
    expectCertError(out.error, 'ERR_TLS_CERT_ALTNAME_INVALID', `${ALTNAMES}Host: localhost. is not cert's CN: cn-only.test`)
  })

  test('an IP address is never matched against the CN: IP: 127.0.0.1 is not in the cert\'s list', async () => {
    const out = await handshake('cn-only', CA)
    expectCertError(out.error, 'ERR_TLS_CERT_ALTNAME_INVALID', `${ALTNAMES}IP: 127.0.0.1 is not in the cert's list: `)
  })

  test('an IP address missing from the IP names lists them as Node canonicalizes them', async () => {
    const out = await handshake('wrong-name', { ...CA, rejectUnauthorized: false })
    expectCertError(out.error, 'ERR_TLS_CERT_ALTNAME_INVALID', `${ALTNAMES}IP: 127.0.0.1 is not in the cert's list: `)
    const server = await handshake('server', { ...CA, serverName: '127.0.0.2', rejectUnauthorized: false })
    expectCertError(server.error, 'ERR_TLS_CERT_ALTNAME_INVALID', `${ALTNAMES}IP: 127.0.0.2 is not in the cert's list: 127.0.0.1, ::1`)
  })
})

// --- 3. NODE_EXTRA_CA_CERTS --------------------------------------------------------------------------

/**
 * Runs fixtures/extra-ca.js (`node` with the package under Jest, `bun` under `bun test`) with
 * NODE_EXTRA_CA_CERTS set to `file`; resolves the JSON line it prints.
 */
function runExtraCa(file, mode) {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'extra-ca.js'), mode], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: file },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', (text) => (stdout += text))
  const exited = new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout })))
  return within(exited, 10000, 'extra-ca fixture').finally(() => child.kill('SIGKILL'))
}

describe('NODE_EXTRA_CA_CERTS', () => {
  test('its certificates join the default roots: tls: { serverName } and tls: true are authorized', async () => {
    for (const mode of ['serverName', 'true']) {
      const { code, stdout } = await runExtraCa(path.join(CERTS, 'ca.pem'), mode)
      expect({ mode, code, result: JSON.parse(stdout) }).toEqual({ mode, code: 0, result: { success: true, error: null, authorized: true } })
    }
  })

  test('beside a `ca` they are not trusted; a chain ending there is SELF_SIGNED_CERT_IN_CHAIN', async () => {
    const { code, stdout } = await runExtraCa(path.join(CERTS, 'ca.pem'), 'otherCa')
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual({ success: false, error: 'SELF_SIGNED_CERT_IN_CHAIN', authorized: false })
  })

  test('a server without `ca` trusts them for client certificates', async () => {
    const { code, stdout } = await runExtraCa(path.join(CERTS, 'ca.pem'), 'server')
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual({ success: true, error: null, authorized: true })
  })

  test('a file that cannot be read adds nothing', async () => {
    const { code, stdout } = await runExtraCa(path.join(CERTS, 'no-such-file.pem'), 'serverName')
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual({ success: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', authorized: false })
  })
})
