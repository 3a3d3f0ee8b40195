'use strict'
// The `tls` option of listen() and connect(): every bad input throws synchronously, with Bun's
// class, message, code and own keys, and the first failure wins in Bun's order. Only throws are
// exercised here (nothing connects); handshakes live in tls.test.js.

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('bun')
const { onBun, tempDir, thrown } = require('./helpers')

const CERTS = path.join(__dirname, 'fixtures', 'certs')
const pem = (name) => fs.readFileSync(path.join(CERTS, `${name}.pem`), 'utf8')
const C = {
  ca: pem('ca'),
  server: pem('server'),
  serverKey: pem('server-key'),
  serverKeyEncrypted: pem('server-key-encrypted'),
  serverRsaKey: pem('server-rsa-key'),
  wrongNameKey: pem('wrong-name-key'),
}
const block = (type, body) => `-----BEGIN ${type}-----\n${body}\n-----END ${type}-----\n`

// Bun.file() on Bun; on Node an object with a string `name` stands for one.
const file = (p) => (onBun ? Bun.file(p) : { name: p })

let dir
let missing
let empty
beforeAll(() => {
  dir = tempDir()
  missing = path.join(dir, 'missing.pem')
  empty = path.join(dir, 'empty.pem')
  fs.writeFileSync(empty, '')
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const listenWith = (tls, extra = {}) =>
  thrown(() => listen({ hostname: '127.0.0.1', port: 0, tls, socket: { data() {} }, ...extra }))
// Port 1 on loopback refuses: should a case not throw, nothing is left open.
const connectWith = (tls, extra = {}) =>
  thrown(() => connect({ hostname: '127.0.0.1', port: 1, tls, socket: { data() {}, connectError() {} }, ...extra }))

const typeError = (message) => ({ type: TypeError, code: 'ERR_INVALID_ARG_TYPE', message, keys: [] })
const rangeError = (message) => ({ type: RangeError, code: 'ERR_OUT_OF_RANGE', message, keys: [] })
const boringssl = (message) => ({ type: Error, code: 'ERR_BORINGSSL', message, keys: [] })
const LIBRARIES = {
  PEM: 'PEM routines',
  ASN1: 'ASN.1 encoding routines',
  X509: 'X.509 certificate routines',
  SSL: 'SSL routines',
  '': 'Cipher functions',
}
/** BoringSSL's error as Bun throws it, e.g. openssl('PEM', '0900006e', 'NO_START_LINE'). */
function openssl(lib, packed, reason) {
  const library = LIBRARIES[lib]
  return {
    type: Error,
    code: lib === 'SSL' ? `ERR_SSL_${reason}` : `ERR_OSSL_${lib === '' ? '' : `${lib}_`}${reason}`,
    message: `error:${packed}:${library}:OPENSSL_internal:${reason}`,
    keys: ['library', 'function', 'reason', 'code'],
    props: { library, function: 'OPENSSL_internal', reason },
  }
}
const NO_START_LINE = openssl('PEM', '0900006e', 'NO_START_LINE')

function expectShape(err, { type, code, message, keys, props = {} }) {
  expect(err).toBeInstanceOf(type)
  expect(err.constructor.name).toBe(type.name)
  expect(err.message).toBe(message)
  expect(err.code).toBe(code)
  expect(Object.keys(err)).toEqual(keys)
  expect(err).toMatchObject(props)
}

// [name, tls, expected shape]: each throws the same from listen() and connect().
const cases = () => [
  // The `tls` value and the type of each field.
  ['tls: 0', 0, typeError('TLSOptions must be an object')],
  ['tls: "yes"', 'yes', typeError('TLSOptions must be an object')],
  ['tls: [] (arrays are not objects to Bun)', [], typeError('TLSOptions must be an object')],
  ['passphrase: 5', { passphrase: 5 }, typeError('TLSOptions.passphrase must be a string')],
  ['passphrase: a String object', { passphrase: new String('x') }, typeError('TLSOptions.passphrase must be a string')],
  ['dhParamsFile: 5', { dhParamsFile: 5 }, typeError('TLSOptions.dhParamsFile must be a string')],
  ['serverName: 5', { serverName: 5 }, typeError('TLSOptions.serverName must be a string')],
  ['servername: 5 (same message)', { servername: 5 }, typeError('TLSOptions.serverName must be a string')],
  ['lowMemoryMode: 1', { lowMemoryMode: 1 }, typeError('TLSOptions.lowMemoryMode must be a boolean')],
  ['lowMemoryMode: null', { lowMemoryMode: null }, typeError('TLSOptions.lowMemoryMode must be a boolean')],
  ['rejectUnauthorized: 0', { rejectUnauthorized: 0 }, typeError('TLSOptions.rejectUnauthorized must be a boolean')],
  ['requestCert: "yes"', { requestCert: 'yes' }, typeError('TLSOptions.requestCert must be a boolean')],
  ['requestCert: null', { requestCert: null }, typeError('TLSOptions.requestCert must be a boolean')],
  ...['ca', 'cert', 'key'].flatMap((field) => [
    [`${field}: 5`, { [field]: 5 }, typeError(`TLSOptions.${field} must be of type string, ArrayBuffer, Blob, array of <string, ArrayBuffer, or Blob>, or null`)],
    [`${field}: [5]`, { [field]: [5] }, typeError(`element of TLSOptions.${field} must be of type string, ArrayBuffer, or Blob`)],
  ]),
  ['ca: {} (a plain object)', { ca: {} }, typeError('TLSOptions.ca must be of type string, ArrayBuffer, Blob, array of <string, ArrayBuffer, or Blob>, or null')],
  ['ca: [null]', { ca: [null] }, typeError('element of TLSOptions.ca must be of type string, ArrayBuffer, or Blob')],
  ['key: { pem, passphrase } (Node\'s object form)', { key: { pem: C.serverKeyEncrypted, passphrase: 'secret' } },
    typeError('TLSOptions.key must be of type string, ArrayBuffer, Blob, array of <string, ArrayBuffer, or Blob>, or null')],
  ['key: [{ pem, passphrase }]', { key: [{ pem: C.serverKeyEncrypted, passphrase: 'secret' }] },
    typeError('element of TLSOptions.key must be of type string, ArrayBuffer, or Blob')],
  ['secureOptions: "1"', { secureOptions: '1' }, typeError('TLSOptions.secureOptions must be a number')],
  ['secureOptions: null', { secureOptions: null }, typeError('TLSOptions.secureOptions must be a number')],
  ['secureOptions: -1', { secureOptions: -1 }, rangeError('TLSOptions.secureOptions must be in the range [0, 4294967295] (received -1)')],
  ['secureOptions: 2 ** 32', { secureOptions: 2 ** 32 }, rangeError('TLSOptions.secureOptions must be in the range [0, 4294967295] (received 4294967296)')],
  ['secureOptions: 1.5', { secureOptions: 1.5 }, rangeError('TLSOptions.secureOptions must be an integer (received 1.5)')],
  ['secureOptions: NaN', { secureOptions: NaN }, rangeError('TLSOptions.secureOptions must be an integer (received NaN)')],
  ['secureOptions: 2 ** 53', { secureOptions: 2 ** 53 }, rangeError('TLSOptions.secureOptions must be an integer (received 9007199254740992)')],
  ['secureOptions: -1n', { secureOptions: -1n }, rangeError('TLSOptions.secureOptions must be in the range [0, 4294967295]')],
  ['secureOptions: 2n ** 40n', { secureOptions: 2n ** 40n }, rangeError('TLSOptions.secureOptions must be in the range [0, 4294967295] (received 1099511627776)')],
  ['keyFile: 5', { keyFile: 5 }, typeError('TLSOptions.keyFile must be a string')],
  ['certFile: 5', { certFile: 5 }, typeError('TLSOptions.certFile must be a string')],
  ['caFile: 5', { caFile: 5 }, typeError('TLSOptions.caFile must be a string')],
  ['ALPNProtocols: ["h2"] (Node\'s array form)', { ALPNProtocols: ['h2', 'http/1.1'] }, typeError('TLSOptions.ALPNProtocols must be of type string, ArrayBuffer, or null')],
  ['ALPNProtocols: 5', { ALPNProtocols: 5 }, typeError('TLSOptions.ALPNProtocols must be of type string, ArrayBuffer, or null')],
  ['ciphers: 5', { ciphers: 5 }, typeError('TLSOptions.ciphers must be a string')],
  ['clientRenegotiationLimit: "x"', { clientRenegotiationLimit: 'x' }, typeError('TLSOptions.clientRenegotiationLimit must be a number')],
  ['clientRenegotiationWindow: -1', { clientRenegotiationWindow: -1 }, rangeError('TLSOptions.clientRenegotiationWindow must be in the range [0, 4294967295] (received -1)')],

  // Files.
  ['ca: a Blob that is not a file', { ca: new Blob([C.ca]) }, typeError('TLSOptions.ca is not a valid BunFile (non-BunFile `Blob`s are not supported)')],
  ['cert: [a Blob]', { cert: [new Blob([C.server])] }, typeError('TLSOptions.cert is not a valid BunFile (non-BunFile `Blob`s are not supported)')],
  ['ca: a missing file', () => ({ ca: file(missing) }), () => ({
    type: Error,
    code: 'ENOENT',
    message: `ENOENT: no such file or directory, open '${missing}'`,
    keys: ['code', 'path', 'syscall', 'errno'],
    props: { path: missing, syscall: 'open', errno: -2 },
  })],
  ['key: a directory', () => ({ key: file(dir) }), {
    type: Error,
    code: 'EISDIR',
    message: 'EISDIR: illegal operation on a directory, read',
    keys: ['code', 'syscall', 'errno'],
    props: { syscall: 'read', errno: -21 },
  }],
  ['ca: an empty file', () => ({ ca: file(empty) }), typeError('TLSOptions.ca is an empty file')],
  ['cert: [an empty file]', () => ({ cert: [file(empty)] }), typeError('TLSOptions.cert is an empty file')],
  ...['keyFile', 'certFile', 'caFile', 'dhParamsFile'].map((field) => [
    `${field}: a missing path`, () => ({ [field]: missing }), typeError(`Unable to access ${field} path`),
  ]),
  ['keyFile: ""', { keyFile: '' }, typeError('Unable to access keyFile path')],

  // What BoringSSL refuses when Bun builds the context.
  ['cert: "hello world"', { cert: 'hello world' }, NO_START_LINE],
  ['cert: ""', { cert: '' }, NO_START_LINE],
  ['cert: a key PEM', { cert: C.serverKey, key: C.serverKey }, NO_START_LINE],
  ['cert: truncated PEM', { cert: C.server.slice(0, -30), key: C.serverKey }, openssl('PEM', '09000066', 'BAD_END_LINE')],
  ['cert: END line of another type', { cert: C.server.replace('END CERTIFICATE', 'END FOO') }, openssl('PEM', '09000066', 'BAD_END_LINE')],
  ['cert: body not base64', { cert: block('CERTIFICATE', '!!!!') }, openssl('PEM', '09000064', 'BAD_BASE64_DECODE')],
  ['cert: empty body', { cert: block('CERTIFICATE', '') }, openssl('PEM', '09000074', 'NO_DATA')],
  ['cert: base64 that is no certificate', { cert: block('CERTIFICATE', 'AAAA') }, openssl('ASN1', '0c00006d', 'DECODE_ERROR')],
  ['cert: headers that are not Proc-Type', { cert: C.server.replace('-----\n', '-----\nFoo: bar\n\n') }, openssl('PEM', '0900006d', 'NOT_PROC_TYPE')],
  ['cert: a CA certificate (EC, no digitalSignature)', { cert: C.ca }, openssl('SSL', '1000012e', 'KEY_USAGE_BIT_INCORRECT')],
  ['cert: leaf then a broken certificate', { cert: C.server + block('CERTIFICATE', 'AAAA'), key: C.serverKey }, openssl('ASN1', '0c00006d', 'DECODE_ERROR')],
  ['key: "garbage"', { key: 'garbage' }, NO_START_LINE],
  ['key: a certificate PEM', { key: C.server }, NO_START_LINE],
  ['key: base64 that is no key', { key: block('PRIVATE KEY', 'AAAA') }, openssl('ASN1', '0c00006d', 'DECODE_ERROR')],
  ['key: [good, "garbage"]', { key: [C.serverKey, 'garbage'], cert: C.server }, NO_START_LINE],
  ['key that does not match cert', { key: C.wrongNameKey, cert: C.server }, openssl('X509', '0b000074', 'KEY_VALUES_MISMATCH')],
  ['RSA key with an EC cert', { key: C.serverRsaKey, cert: C.server }, openssl('X509', '0b000073', 'KEY_TYPE_MISMATCH')],
  ['encrypted key, wrong passphrase', { key: C.serverKeyEncrypted, cert: C.server, passphrase: 'wrong' }, openssl('', '1e000065', 'BAD_DECRYPT')],
  ['encrypted key, no passphrase', { key: C.serverKeyEncrypted, cert: C.server }, openssl('', '1e000065', 'BAD_DECRYPT')],
  ['encrypted key alone, wrong passphrase', { key: C.serverKeyEncrypted, passphrase: '' }, openssl('', '1e000065', 'BAD_DECRYPT')],
  ['keyFile: another key than cert\'s', () => ({ keyFile: path.join(CERTS, 'wrong-name-key.pem'), cert: C.server }), openssl('X509', '0b000074', 'KEY_VALUES_MISMATCH')],
  ['keyFile: an empty file', () => ({ keyFile: empty }), NO_START_LINE],
  ['ca: "garbage"', { ca: 'garbage' }, boringssl('Invalid CA')],
  ['ca: ""', { ca: '' }, boringssl('Invalid CA')],
  ['ca: an empty Buffer', { ca: Buffer.alloc(0) }, boringssl('Invalid CA')],
  ['ca: a certificate block that does not decode', { ca: block('CERTIFICATE', 'AAAA') }, boringssl('Invalid CA')],
  ['ca: [good, "garbage"]', { ca: [C.ca, 'garbage'] }, boringssl('Invalid CA')],
  ['caFile: a key', { caFile: path.join(CERTS, 'server-key.pem') }, boringssl('Failed to load CA file')],
  ['caFile: a certificate then a broken one', () => {
    const p = path.join(dir, 'ca-then-broken.pem')
    fs.writeFileSync(p, C.ca + block('CERTIFICATE', 'AAAA'))
    return { caFile: p }
  }, boringssl('Invalid CA file')],
  ['ciphers: "NOPE"', { ciphers: 'NOPE' }, boringssl('Invalid ciphers')],
  ['ciphers: "ALL:!ALL"', { ciphers: 'ALL:!ALL' }, boringssl('Invalid ciphers')],
  ['ciphers: a TLS 1.3 suite', { ciphers: 'TLS_AES_128_GCM_SHA256' }, boringssl('Invalid ciphers')],

  // The first failure wins: field types in Bun's order, then files, then contents.
  ['every field of the wrong type: passphrase first', {
    ALPNProtocols: 5, caFile: 5, key: 5, ca: 5, requestCert: 5, serverName: 5, dhParamsFile: 5, passphrase: 5,
  }, typeError('TLSOptions.passphrase must be a string')],
  ['ca before secureOptions', { secureOptions: 'x', ca: [5] }, typeError('element of TLSOptions.ca must be of type string, ArrayBuffer, or Blob')],
  ['secureOptions before keyFile', { keyFile: 5, secureOptions: -1 }, rangeError('TLSOptions.secureOptions must be in the range [0, 4294967295] (received -1)')],
  ['types before files', () => ({ ca: file(missing), secureOptions: 'x' }), typeError('TLSOptions.secureOptions must be a number')],
  ['dhParamsFile before file objects', () => ({ ca: file(missing), dhParamsFile: missing }), typeError('Unable to access dhParamsFile path')],
  ['file objects in ca, cert, key order', () => ({ key: file(`${missing}.key`), cert: file(`${missing}.cert`), ca: file(`${missing}.ca`) }),
    () => ({ type: Error, code: 'ENOENT', message: `ENOENT: no such file or directory, open '${missing}.ca'`, keys: ['code', 'path', 'syscall', 'errno'] })],
  ['file objects before keyFile', () => ({ keyFile: missing, cert: file(`${missing}.cert`) }),
    () => ({ type: Error, code: 'ENOENT', message: `ENOENT: no such file or directory, open '${missing}.cert'`, keys: ['code', 'path', 'syscall', 'errno'] })],
  ['keyFile, certFile, caFile in that order', () => ({ caFile: missing, certFile: missing, keyFile: missing }), typeError('Unable to access keyFile path')],
  ['files before contents', () => ({ cert: 'garbage', certFile: missing }), typeError('Unable to access certFile path')],
  ['cert before key', { key: 'garbage', cert: block('CERTIFICATE', '!!!!') }, openssl('PEM', '09000064', 'BAD_BASE64_DECODE')],
  ['key before ca', { ca: 'garbage', key: 'garbage' }, NO_START_LINE],
  ['key against cert before ca', { ca: 'garbage', key: C.wrongNameKey, cert: C.server }, openssl('X509', '0b000074', 'KEY_VALUES_MISMATCH')],
  ['ca before ciphers', { ciphers: 'NOPE', ca: 'garbage' }, boringssl('Invalid CA')],
  ['keyFile wins over key: its content is checked', () => ({ key: C.serverKey, cert: C.server, keyFile: path.join(CERTS, 'ca.pem') }), NO_START_LINE],
]

describe.each([
  ['listen', listenWith],
  ['connect', connectWith],
])('%s() throws synchronously', (_, call) => {
  test.each(cases())('%s', (name, tls, shape) => {
    const err = call(typeof tls === 'function' ? tls() : tls)
    expectShape(err, typeof shape === 'function' ? shape() : shape)
  })
})

// Bun checks the `tls` field types before the handler callbacks, host and port, reads the
// files before them too, and refuses contents only after every other option has passed.
describe.each([
  ['listen', (options) => thrown(() => listen({ hostname: '127.0.0.1', port: 0, ...options }))],
  ['connect', (options) => thrown(() => connect({ hostname: '127.0.0.1', port: 1, ...options }))],
])('%s(): tls checks among the other options', (_, call) => {
  test('a bad field type is reported before a missing data handler', () => {
    const err = call({ tls: { ca: 5 }, socket: {} })
    expect(err.message).toBe('TLSOptions.ca must be of type string, ArrayBuffer, Blob, array of <string, ArrayBuffer, or Blob>, or null')
  })
  test('a missing keyFile is reported before a missing data handler', () => {
    expect(call({ tls: { keyFile: missing }, socket: {} }).message).toBe('Unable to access keyFile path')
  })
  test('bad contents are reported after a missing data handler', () => {
    expect(call({ tls: { ca: 'garbage' }, socket: {} }).message).toBe('Expected at least "data" or "drain" callback')
  })
  test('bad contents are reported after a handler that is not a function', () => {
    expect(call({ tls: { ca: 'garbage' }, socket: { data: 5 } }).message).toBe('Expected "onData" callback to be a function')
  })
  test('a bad field type is reported before a missing hostname', () => {
    const err = call({ hostname: undefined, tls: { ca: 5 }, socket: { data() {} } })
    expect(err.message).toMatch(/^TLSOptions\.ca must be/)
  })
  test('bad contents are reported after a missing hostname', () => {
    expect(call({ hostname: undefined, tls: { ca: 'garbage' }, socket: { data() {} } }).message).toBe('Expected either "hostname" or "unix"')
  })
  test('binaryType and allowHalfOpen are checked before tls, exclusive between types and files', () => {
    expect(call({ tls: 0, socket: { data() {}, binaryType: 'x' } }).message).toMatch(/^SocketHandler\.binaryType must be/)
    expect(call({ tls: { ca: 5 }, allowHalfOpen: 5, socket: { data() {} } }).message).toBe('SocketOptions.allowHalfOpen must be a boolean')
    expect(call({ tls: { ca: 5 }, exclusive: 5, socket: { data() {} } }).message).toMatch(/^TLSOptions\.ca must be/)
    expect(call({ tls: { keyFile: missing }, exclusive: 5, socket: { data() {} } }).message).toBe('SocketOptions.exclusive must be a boolean')
  })
})

// Inputs Bun lets through at listen() time (what happens at handshake time is tls.test.js's).
describe('listen() accepts', () => {
  const accepted = () => [
    ['a key without a certificate', { key: C.serverKey }],
    ['a certificate without a key', { cert: C.server }],
    ['a key PEM as ca (ignored)', { key: C.serverKey, cert: C.server, ca: C.serverKey }],
    ['a passphrase with an unencrypted key', { key: C.serverKey, cert: C.server, passphrase: 'unused' }],
    ['garbage after the last certificate', { key: C.serverKey, cert: `${C.server}garbage` }],
    ['ca with garbage after a good certificate', { ca: `${C.ca}garbage\n${block('CERTIFICATE', 'AAAA')}` }],
    ['key given twice, one of them not matching', { key: [C.wrongNameKey, C.serverKey], cert: C.server }],
    ['keyFile over a garbage key', { keyFile: path.join(CERTS, 'server-key.pem'), key: 'garbage', cert: C.server }],
    ['caFile over a garbage ca', { caFile: path.join(CERTS, 'ca.pem'), ca: 'garbage' }],
    ['unknown options', { key: C.serverKey, cert: C.server, pfx: 5, foo: {} }],
    ['an empty cipher list', { key: C.serverKey, cert: C.server, ciphers: '' }],
    ['tls: true (no certificate at all)', true],
    ['tls: a function', function tls() {}],
  ]
  test.each(accepted())('%s', (_, tls) => {
    const server = listen({ hostname: '127.0.0.1', port: 0, tls, socket: { data() {} } })
    server.stop(true)
    expect(server.port).toBeGreaterThan(0)
  })
})
