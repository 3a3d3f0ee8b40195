'use strict'
// What the TLS library inside Bun (BoringSSL) accepts as `cert`, `key`, `ca` and `dhParamsFile`,
// checked with node:crypto, and the errors it reports (cipher strings: tls-ciphers.js). Inputs are byte strings (one
// latin1 character per byte) already cut at the first NUL byte, as Bun hands C strings to
// BoringSSL. Only what Bun 1.4.4 visibly does is modelled (docs/reference/bun-tls.md, Q5).

const crypto = require('node:crypto')

/** BoringSSL library numbers → [name in messages, infix of Node's `ERR_OSSL_*` codes]. */
const LIBRARIES = {
  0x04: ['RSA routines', 'RSA_'],
  0x05: ['Diffie-Hellman routines', 'DH_'],
  0x06: ['public key routines', 'EVP_'],
  0x09: ['PEM routines', 'PEM_'],
  0x0b: ['X.509 certificate routines', 'X509_'],
  0x0c: ['ASN.1 encoding routines', 'ASN1_'],
  0x0f: ['elliptic curve routines', 'EC_'],
  0x10: ['SSL routines', null],
  0x1e: ['Cipher functions', ''],
}

// [packed code, reason] of every error this module throws.
const NO_START_LINE = ['0900006e', 'NO_START_LINE']
const BAD_END_LINE = ['09000066', 'BAD_END_LINE']
const BAD_BASE64_DECODE = ['09000064', 'BAD_BASE64_DECODE']
const NO_DATA = ['09000074', 'NO_DATA']
const NOT_PROC_TYPE = ['0900006d', 'NOT_PROC_TYPE']
const ASN1_DECODE_ERROR = ['0c00006d', 'DECODE_ERROR']
const EVP_DECODE_ERROR = ['06000066', 'DECODE_ERROR']
const DIFFERENT_KEY_TYPES = ['06000067', 'DIFFERENT_KEY_TYPES']
const UNSUPPORTED_ALGORITHM = ['06000080', 'UNSUPPORTED_ALGORITHM']
const BAD_DECRYPT = ['1e000065', 'BAD_DECRYPT']
const KEY_TYPE_MISMATCH = ['0b000073', 'KEY_TYPE_MISMATCH']
const KEY_VALUES_MISMATCH = ['0b000074', 'KEY_VALUES_MISMATCH']
const KEY_USAGE_BIT_INCORRECT = ['1000012e', 'KEY_USAGE_BIT_INCORRECT']

/** "error:0900006e:PEM routines:OPENSSL_internal:NO_START_LINE", as BoringSSL words an error. */
function opensslMessage(packed, reason) {
  const library = LIBRARIES[parseInt(packed.slice(0, 2), 16)]
  return `error:${packed}:${library === undefined ? 'unknown library' : library[0]}:OPENSSL_internal:${reason}`
}

/**
 * The Error Bun throws for a BoringSSL failure while building a context: own enumerable
 * library, function, reason and code, in that order (no errno).
 */
function opensslError(packed, reason) {
  const library = LIBRARIES[parseInt(packed.slice(0, 2), 16)]
  const err = new Error(opensslMessage(packed, reason))
  err.library = library === undefined ? 'unknown library' : library[0]
  err.function = 'OPENSSL_internal'
  err.reason = reason
  err.code = library === undefined || library[1] === null ? `ERR_SSL_${reason}` : `ERR_OSSL_${library[1]}${reason}`
  return err
}

/** Bun's errors whose code is ERR_BORINGSSL ("Invalid CA", "Invalid ciphers"…): code not an own key. */
function boringsslError(message) {
  const err = new Error(message)
  Object.defineProperty(err, 'code', { value: 'ERR_BORINGSSL', writable: true, configurable: true })
  return err
}

const fail = (error) => {
  throw opensslError(error[0], error[1])
}

// ---------------------------------------------------------------------------------------------
// PEM, the way BoringSSL's PEM_read_bio reads it: a block starts at a line beginning with
// "-----BEGIN " (nothing before it on the line), lines lose trailing whitespace, lines before a
// blank line are headers, the END line must name the same type, the base64 is strict, and a
// block of the wrong type is still decoded (and can fail) before it is skipped.

/** Reads PEM blocks out of a byte string, one per call to next(). */
class PemReader {
  constructor(text) {
    this.text = text
    this.pos = 0
  }

  /**
   * The next block whose type passes `accept`: { name, header, der }, or the error (one of the
   * constants above) that stopped the reading; NO_START_LINE means the text ran out.
   */
  next(accept) {
    for (;;) {
      const block = this.block()
      if (Array.isArray(block)) return block
      if (!accept(block.name)) continue
      // Headers are only for legacy encryption ("Proc-Type: 4,ENCRYPTED", "DEK-Info: …").
      return block.header === '' || block.header.startsWith('Proc-Type: ') ? block : NOT_PROC_TYPE
    }
  }

  block() {
    let line
    do {
      line = this.line()
      if (line === null) return NO_START_LINE
    } while (!(line.startsWith('-----BEGIN ') && line.endsWith('-----') && line.length >= 16))
    const name = line.slice(11, -5)
    const lines = []
    let blank = -1
    for (;;) {
      line = this.line()
      if (line === null) return BAD_END_LINE
      if (line.startsWith('-----END ')) break
      if (line === '' && blank === -1) blank = lines.length
      lines.push(line)
    }
    if (line !== `-----END ${name}-----`) return BAD_END_LINE
    const header = blank === -1 ? '' : lines.slice(0, blank).join('\n')
    const der = decodeBase64(blank === -1 ? lines.join('') : lines.slice(blank + 1).join(''))
    if (der === null) return BAD_BASE64_DECODE
    if (der.length === 0) return NO_DATA
    return { name, header, der }
  }

  line() {
    const { text, pos } = this
    if (pos >= text.length) return null
    let end = text.indexOf('\n', pos)
    if (end === -1) end = text.length
    this.pos = end + 1
    let last = end
    while (last > pos && text.charCodeAt(last - 1) <= 32) last--
    return text.slice(pos, last)
  }
}

const BASE64 = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Strict base64 (whitespace ignored, padding only at the very end), or null. */
function decodeBase64(text) {
  const compact = text.replace(/[ \t\r\n]/g, '')
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) return null
  return Buffer.from(compact, 'base64')
}

// ---------------------------------------------------------------------------------------------
// DER, just enough to find what node:crypto does not report.

/** The DER element at `start`: { tag, body, end }, or null if malformed or past `limit`. */
function element(buf, start, limit = buf.length) {
  if (start + 2 > limit) return null
  const tag = buf[start]
  if ((tag & 0x1f) === 0x1f) return null
  let len = buf[start + 1]
  let body = start + 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4 || body + n > limit) return null
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + buf[body + i]
    body += n
  }
  const end = body + len
  return end > limit ? null : { tag, body, end }
}

/** The children of a constructed element, or null if one is malformed. */
function children(buf, parent) {
  const list = []
  for (let pos = parent.body; pos < parent.end; ) {
    const child = element(buf, pos, parent.end)
    if (child === null) return null
    list.push(child)
    pos = child.end
  }
  return list
}

const hex = (buf, el) => buf.toString('hex', el.body, el.end)

const OID_KEY_USAGE = '551d0f'
// Private key algorithms BoringSSL parses (PKCS#8), and the curves it knows.
const KEY_ALGORITHMS = {
  '2a864886f70d010101': 'rsa',
  '2a8648ce3d0201': 'ec',
  '2b6570': 'ed25519',
  '2b656e': 'x25519',
  '2a8648ce380401': 'dsa',
}
const KEY_CURVES = new Set(['2b81040021', '2a8648ce3d030107', '2b81040022', '2b81040023'])
const KEY_CURVE_NAMES = new Set(['secp224r1', 'prime256v1', 'secp384r1', 'secp521r1'])
// Public keys a TLS certificate may carry (no P-224 there).
const CERT_CURVE_NAMES = new Set(['prime256v1', 'secp384r1', 'secp521r1'])

// ---------------------------------------------------------------------------------------------
// Certificates

const isCertificate = (name) => name === 'CERTIFICATE' || name === 'X509 CERTIFICATE'
const isAuxCertificate = (name) => isCertificate(name) || name === 'TRUSTED CERTIFICATE'

/**
 * d2i_X509, which must use the whole block (`aux`: d2i_X509_AUX, where one more SEQUENCE may
 * follow the certificate). Returns the X509Certificate or throws ASN.1 DECODE_ERROR.
 */
function decodeCertificate(der, aux) {
  const outer = element(der, 0)
  if (outer === null || outer.tag !== 0x30) fail(ASN1_DECODE_ERROR)
  if (outer.end !== der.length) {
    const extra = aux ? element(der, outer.end) : null
    if (extra === null || extra.tag !== 0x30 || extra.end !== der.length) fail(ASN1_DECODE_ERROR)
  }
  try {
    return new crypto.X509Certificate(outer.end === der.length ? der : der.subarray(0, outer.end))
  } catch {
    return fail(ASN1_DECODE_ERROR)
  }
}

/**
 * One `cert` entry: the first certificate is ours (SSL_CTX_use_certificate), the rest its chain,
 * read until the text runs out. Returns { x509, type, ders } with `type` the key type.
 */
function parseCertificateChain(text) {
  const reader = new PemReader(text)
  const first = reader.next(isAuxCertificate)
  if (Array.isArray(first)) fail(first)
  const x509 = decodeCertificate(first.der, true)
  const type = certificateKeyType(x509)
  // BoringSSL only signs with an EC certificate whose keyUsage (if any) has digitalSignature.
  if (type === 'ec' && !allowsDigitalSignature(x509.raw)) fail(KEY_USAGE_BIT_INCORRECT)
  const ders = [x509.raw]
  for (;;) {
    const next = reader.next(isCertificate)
    if (next === NO_START_LINE) break
    if (Array.isArray(next)) fail(next)
    ders.push(decodeCertificate(next.der, false).raw)
  }
  return { x509, type, ders }
}

function certificateKeyType(x509) {
  let key
  try {
    key = x509.publicKey
  } catch {
    return fail(UNSUPPORTED_ALGORITHM)
  }
  const type = key.asymmetricKeyType
  if (type === 'rsa' || type === 'ed25519') return type
  if (type === 'ec' && CERT_CURVE_NAMES.has(key.asymmetricKeyDetails.namedCurve)) return type
  return fail(UNSUPPORTED_ALGORITHM)
}

/** False when the certificate has a keyUsage extension without the digitalSignature bit. */
function allowsDigitalSignature(der) {
  const cert = element(der, 0)
  const tbs = cert && element(der, cert.body, cert.end)
  const fields = tbs && children(der, tbs)
  const wrapper = fields && fields.find((field) => field.tag === 0xa3)
  if (!wrapper) return true
  const list = element(der, wrapper.body, wrapper.end)
  for (const ext of (list && children(der, list)) ?? []) {
    const parts = children(der, ext)
    if (parts === null || parts.length < 2 || hex(der, parts[0]) !== OID_KEY_USAGE) continue
    const value = parts[parts.length - 1]
    const bits = element(der, value.body, value.end)
    if (bits === null || bits.tag !== 0x03) return false
    return bits.end - bits.body > 1 && (der[bits.body + 1] & 0x80) !== 0
  }
  return true
}

/**
 * One `ca` entry: every certificate in it. An entry without certificates is accepted only if it
 * looks like PEM (Bun ignores, say, a private key given as `ca`); anything else is Bun's
 * "Invalid CA". Certificates after a bad one are dropped.
 */
function parseCaEntry(text) {
  const reader = new PemReader(text)
  const ders = []
  let stop
  for (;;) {
    const block = reader.next(isCertificate)
    if (Array.isArray(block)) {
      stop = block
      break
    }
    try {
      ders.push(decodeCertificate(block.der, false).raw)
    } catch {
      stop = ASN1_DECODE_ERROR
      break
    }
  }
  if (ders.length === 0 && !(stop === NO_START_LINE && text.includes('-----BEGIN '))) {
    throw boringsslError('Invalid CA')
  }
  return ders
}

/**
 * `caFile`: SSL_load_client_CA_file (needs one readable certificate) then
 * SSL_CTX_load_verify_locations (every block must decode).
 */
function parseCaFile(text) {
  const names = new PemReader(text).next(isCertificate)
  let readable = !Array.isArray(names)
  if (readable) {
    try {
      decodeCertificate(names.der, false)
    } catch {
      readable = false
    }
  }
  if (!readable) throw boringsslError('Failed to load CA file')
  const reader = new PemReader(text)
  const ders = []
  for (;;) {
    const block = reader.next(() => true)
    if (block === NO_START_LINE) return ders
    if (Array.isArray(block)) throw boringsslError('Invalid CA file')
    if (!isAuxCertificate(block.name)) continue
    try {
      ders.push(decodeCertificate(block.der, block.name === 'TRUSTED CERTIFICATE').raw)
    } catch {
      throw boringsslError('Invalid CA file')
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Private keys (PEM_read_bio_PrivateKey)

// Traditional key blocks: [key type, node:crypto DER type (none for DSA, read as PEM)].
const LEGACY_TYPES = {
  'RSA PRIVATE KEY': ['rsa', 'pkcs1'],
  'EC PRIVATE KEY': ['ec', 'sec1'],
  'DSA PRIVATE KEY': ['dsa', null],
}
const isPrivateKey = (name) =>
  name === 'PRIVATE KEY' || name === 'ENCRYPTED PRIVATE KEY' || Object.hasOwn(LEGACY_TYPES, name)

/**
 * The first private key in `text`, decrypted with `passphrase` (Bun uses an empty one when none
 * is given). Returns a KeyObject or throws what BoringSSL reports.
 */
function parsePrivateKey(text, passphrase) {
  const block = new PemReader(text).next(isPrivateKey)
  if (Array.isArray(block)) fail(block)
  const encrypted = block.header !== ''
  const pass = passphrase ?? ''
  if (block.name === 'PRIVATE KEY') return plainPkcs8(block.der, ASN1_DECODE_ERROR)
  if (block.name === 'ENCRYPTED PRIVATE KEY') {
    const sig = element(block.der, 0)
    const parts = sig && sig.tag === 0x30 && sig.end === block.der.length ? children(block.der, sig) : null
    if (parts === null || parts.length !== 2 || parts[0].tag !== 0x30 || parts[1].tag !== 0x04) {
      fail(ASN1_DECODE_ERROR)
    }
    const key = tryKey({ key: block.der, format: 'der', type: 'pkcs8', passphrase: pass }) ?? fail(BAD_DECRYPT)
    return supportedKey(key, UNSUPPORTED_ALGORITHM)
  }
  const [type, format] = LEGACY_TYPES[block.name]
  let key
  if (encrypted) {
    key = tryKey({ key: pemText(block), format: 'pem', passphrase: pass }) ?? fail(BAD_DECRYPT)
  } else {
    key = format === null
      ? tryKey({ key: pemText(block), format: 'pem' })
      : tryKey({ key: block.der, format: 'der', type: format })
    // BoringSSL retries as PKCS#8, which must then hold the labelled type.
    key ??= plainPkcs8(block.der, EVP_DECODE_ERROR)
  }
  if (key.asymmetricKeyType !== type) fail(DIFFERENT_KEY_TYPES)
  return supportedKey(key, EVP_DECODE_ERROR)
}

/** An unencrypted PKCS#8 key: `malformed` when the structure is, UNSUPPORTED_ALGORITHM for others. */
function plainPkcs8(der, malformed) {
  const info = element(der, 0)
  const parts = info && info.tag === 0x30 && info.end === der.length ? children(der, info) : null
  if (parts === null || parts.length < 3 || parts[0].tag !== 0x02 || parts[1].tag !== 0x30 ||
    parts[2].tag !== 0x04) {
    fail(malformed)
  }
  const algorithm = children(der, parts[1])
  if (algorithm === null || algorithm.length === 0 || algorithm[0].tag !== 0x06) fail(malformed)
  const type = KEY_ALGORITHMS[hex(der, algorithm[0])]
  if (type === undefined) fail(UNSUPPORTED_ALGORITHM)
  const curve = algorithm[1]
  if (type === 'ec' && curve !== undefined && curve.tag === 0x06 && !KEY_CURVES.has(hex(der, curve))) {
    fail(UNSUPPORTED_ALGORITHM)
  }
  const key = tryKey({ key: der, format: 'der', type: 'pkcs8' }) ?? fail(EVP_DECODE_ERROR)
  return supportedKey(key, UNSUPPORTED_ALGORITHM)
}

function supportedKey(key, otherwise) {
  const type = key.asymmetricKeyType
  const supported = type === 'ec'
    ? KEY_CURVE_NAMES.has(key.asymmetricKeyDetails.namedCurve)
    : Object.values(KEY_ALGORITHMS).includes(type)
  return supported ? key : fail(otherwise)
}

function tryKey(options) {
  try {
    return crypto.createPrivateKey(options)
  } catch {
    return null
  }
}

/** A block as PEM text node:crypto reads (64-column base64, headers kept). */
function pemText(block) {
  const body = block.der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')
  const header = block.header === '' ? '' : `${block.header}\n\n`
  return `-----BEGIN ${block.name}-----\n${header}${body}\n-----END ${block.name}-----\n`
}

/**
 * SSL_CTX_use_PrivateKey's check of a key against a certificate: null when they match, else the
 * error BoringSSL would report.
 */
function keyMismatch(x509, certType, key) {
  if (key.asymmetricKeyType !== certType) return KEY_TYPE_MISMATCH
  return x509.checkPrivateKey(key) ? null : KEY_VALUES_MISMATCH
}

/** PEM_read_DHparams: a "DH PARAMETERS" block holding SEQUENCE { INTEGER p, INTEGER g, ... }. */
function checkDhParams(text) {
  const block = new PemReader(text).next((name) => name === 'DH PARAMETERS')
  if (Array.isArray(block)) fail(block)
  const seq = element(block.der, 0)
  const parts = seq && seq.tag === 0x30 ? children(block.der, seq) : null
  if (parts === null || parts.length < 2 || parts[0].tag !== 0x02 || parts[1].tag !== 0x02) {
    fail(ASN1_DECODE_ERROR)
  }
}

module.exports = {
  opensslError,
  opensslMessage,
  boringsslError,
  parseCertificateChain,
  parseCaEntry,
  parseCaFile,
  parsePrivateKey,
  keyMismatch,
  checkDhParams,
  throwOpenssl: fail,
}
