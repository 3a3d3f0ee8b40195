'use strict'
// Bun's `tls` option of listen(), connect() and upgradeTLS(), validated and normalised in JS so
// that native code only ever receives DER. Checks, messages and their order are Bun 1.4.4's
// (docs/reference/bun-tls.md, Q5). Bun checks in three stages with other options in between:
//   1. checkTlsOptions: the `tls` value, then the type of each field in Bun's order;
//   2. readTlsFiles: dhParamsFile exists, file objects in ca/cert/key are read, then keyFile,
//      certFile and caFile exist;
//   3. parseTlsOptions: what BoringSSL checks when Bun builds the context: cert, key, key against
//      cert, ca, dhParamsFile, ciphers.
// Parsed certificates, keys and CAs are cached by content and files by (inode, size, mtime), so
// a connect() loop over the same options does no file reading and no crypto after the first.

const fs = require('node:fs')
const crypto = require('node:crypto')
const { invalidArgType, outOfRange } = require('./errors')
const ssl = require('./boringssl')
const { checkCiphers } = require('./tls-ciphers')

const FILE_TYPES = 'string, ArrayBuffer, Blob, array of <string, ArrayBuffer, or Blob>, or null'
const U32_MAX = 4294967295

/** A `tls` object after stage 1 (and, once `read` is set, stage 2). */
class TlsInput {
  constructor(tls) {
    this.all = tls === true // `tls: true`: every default
    this.passphrase = null
    this.dhParamsFile = null
    this.serverName = null
    this.lowMemoryMode = false
    this.rejectUnauthorized = null
    this.requestCert = false
    this.ca = null // [string | ArrayBufferView | ArrayBuffer | file] or null, arrays kept as given
    this.cert = null
    this.key = null
    this.secureOptions = 0
    this.keyFile = null
    this.certFile = null
    this.caFile = null
    this.alpn = null
    this.ciphers = null
    this.renegotiation = 0 // clientRenegotiationLimit | clientRenegotiationWindow, only tested for 0
    this.read = false // stage 2 done: file objects in ca/cert/key replaced by FileTexts
  }
}

/**
 * Stage 1. `tls: true` → defaults, `null`/`undefined`/`false` → null (plain TCP); anything else
 * but an object (arrays included; functions are objects to Bun) throws Bun's TypeError.
 */
function checkTlsOptions(tls) {
  if (tls === undefined || tls === null || tls === false) return null
  if (tls === true) return new TlsInput(true)
  if ((typeof tls !== 'object' && typeof tls !== 'function') || Array.isArray(tls)) {
    throw invalidArgType('TLSOptions must be an object')
  }
  const input = new TlsInput(false)
  input.passphrase = optionalString(tls.passphrase, 'passphrase')
  input.dhParamsFile = optionalString(tls.dhParamsFile, 'dhParamsFile')
  let serverName = tls.serverName
  if (serverName === undefined) serverName = tls.servername
  input.serverName = optionalString(serverName, 'serverName')
  input.lowMemoryMode = boolean(tls.lowMemoryMode, 'lowMemoryMode', false)
  input.rejectUnauthorized = boolean(tls.rejectUnauthorized, 'rejectUnauthorized', null)
  input.requestCert = boolean(tls.requestCert, 'requestCert', false)
  input.ca = fileList(tls.ca, 'ca')
  input.cert = fileList(tls.cert, 'cert')
  input.key = fileList(tls.key, 'key')
  input.secureOptions = u32(tls.secureOptions, 'secureOptions')
  input.keyFile = optionalString(tls.keyFile, 'keyFile')
  input.certFile = optionalString(tls.certFile, 'certFile')
  input.caFile = optionalString(tls.caFile, 'caFile')
  input.alpn = alpnValue(tls.ALPNProtocols)
  input.ciphers = optionalString(tls.ciphers, 'ciphers')
  input.renegotiation = u32(tls.clientRenegotiationLimit, 'clientRenegotiationLimit') ||
    u32(tls.clientRenegotiationWindow, 'clientRenegotiationWindow')
  return input
}

function optionalString(value, field) {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string') throw invalidArgType(`TLSOptions.${field} must be a string`)
  return value
}

function boolean(value, field, otherwise) {
  if (value === undefined || (value === null && otherwise === null)) return otherwise
  if (typeof value !== 'boolean') throw invalidArgType(`TLSOptions.${field} must be a boolean`)
  return value
}

// Bun's u32 conversion: unsafe integers are "not integers"; BigInts beyond u64 omit "received".
function u32(value, field) {
  if (value === undefined) return 0
  if (typeof value === 'bigint') {
    if (value >= 0n && value <= BigInt(U32_MAX)) return Number(value)
    const shown = value >= 0n && value < 2n ** 64n ? ` (received ${value})` : ''
    throw outOfRange(`TLSOptions.${field} must be in the range [0, ${U32_MAX}]${shown}`)
  }
  if (typeof value !== 'number') throw invalidArgType(`TLSOptions.${field} must be a number`)
  if (!Number.isSafeInteger(value)) throw outOfRange(`TLSOptions.${field} must be an integer (received ${value})`)
  if (value < 0 || value > U32_MAX) {
    throw outOfRange(`TLSOptions.${field} must be in the range [0, ${U32_MAX}] (received ${value})`)
  }
  return value
}

/** ca/cert/key: null when absent or an empty array, else the entries as given. */
function fileList(value, field) {
  if (value === undefined || value === null) return null
  if (Array.isArray(value)) {
    for (const entry of value) {
      if (!isFileEntry(entry)) {
        throw invalidArgType(`element of TLSOptions.${field} must be of type string, ArrayBuffer, or Blob`)
      }
    }
    return value.length === 0 ? null : value
  }
  if (!isFileEntry(value)) throw invalidArgType(`TLSOptions.${field} must be of type ${FILE_TYPES}`)
  return [value]
}

function isFileEntry(value) {
  return typeof value === 'string' || isBytes(value) || isFileLike(value) || value instanceof Blob
}

function isBytes(value) {
  return ArrayBuffer.isView(value) ? !(value.buffer instanceof SharedArrayBuffer) : value instanceof ArrayBuffer
}

/**
 * Node has no Bun.file(): an object with a string `name` (a path) stands for one. Blobs and
 * Files are not: Bun rejects every Blob that is not a BunFile.
 */
function isFileLike(value) {
  return value !== null && typeof value === 'object' && typeof value.name === 'string' &&
    !ArrayBuffer.isView(value) && !(value instanceof Blob)
}

function alpnValue(value) {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' && !isBytes(value)) {
    throw invalidArgType('TLSOptions.ALPNProtocols must be of type string, ArrayBuffer, or null')
  }
  return value
}

/** Bun's rule: does this checked input ask for TLS? `tls: {}` and all-default fields do not. */
function wantsTls(input) {
  return input.all || input.passphrase !== null || input.dhParamsFile !== null || input.serverName !== null ||
    input.lowMemoryMode || input.rejectUnauthorized !== null || input.requestCert || input.secureOptions !== 0 ||
    input.ca !== null || input.cert !== null || input.key !== null || input.keyFile !== null ||
    input.certFile !== null || input.caFile !== null || input.alpn !== null || input.ciphers !== null ||
    input.renegotiation !== 0
}

/**
 * Whether `tls` asks for TLS, by Bun's rule, without validating anything: `true`, or an object
 * with at least one TLS field set to something other than null/undefined, an empty array, `false`
 * (lowMemoryMode, requestCert) or 0 (secureOptions, clientRenegotiation*). `rejectUnauthorized:
 * false`, `serverName: ''` and `passphrase: ''` do ask for TLS; unknown keys never do.
 */
function requestsTls(tls) {
  if (tls === true) return true
  if (tls === null || (typeof tls !== 'object' && typeof tls !== 'function')) return false
  const set = (v) => v !== undefined && v !== null
  const number = (v) => v !== undefined && v !== 0 && v !== 0n
  const file = (v) => set(v) && !(Array.isArray(v) && v.length === 0)
  const serverName = tls.serverName === undefined ? tls.servername : tls.serverName
  return set(tls.passphrase) || set(tls.dhParamsFile) || set(serverName) || tls.lowMemoryMode === true ||
    set(tls.rejectUnauthorized) || tls.requestCert === true || number(tls.secureOptions) || file(tls.ca) ||
    file(tls.cert) || file(tls.key) || set(tls.keyFile) || set(tls.certFile) || set(tls.caFile) ||
    set(tls.ALPNProtocols) || set(tls.ciphers) || number(tls.clientRenegotiationLimit) ||
    number(tls.clientRenegotiationWindow)
}

// ---------------------------------------------------------------------------------------------
// Stage 2: files

/** Stage 2 on a checked input (idempotent); returns it. */
function readTlsFiles(input) {
  if (input === null || input.read) return input
  if (input.dhParamsFile !== null && fileStat(input.dhParamsFile) === null) {
    throw invalidArgType('Unable to access dhParamsFile path')
  }
  input.ca = readEntries(input.ca, 'ca')
  input.cert = readEntries(input.cert, 'cert')
  input.key = readEntries(input.key, 'key')
  for (const field of ['keyFile', 'certFile', 'caFile']) {
    if (input[field] !== null && fileStat(input[field]) === null) {
      throw invalidArgType(`Unable to access ${field} path`)
    }
  }
  input.read = true
  return input
}

/** The entries with every file object read (a new array only when there is one). */
function readEntries(list, field) {
  if (list === null || list.every((entry) => typeof entry === 'string' || isBytes(entry))) return list
  return list.map((entry) => {
    if (typeof entry === 'string' || isBytes(entry)) return entry
    if (!isFileLike(entry)) {
      throw invalidArgType(`TLSOptions.${field} is not a valid BunFile (non-BunFile \`Blob\`s are not supported)`)
    }
    const file = readFile(entry.name, true)
    if (file.empty) throw invalidArgType(`TLSOptions.${field} is an empty file`)
    return new FileText(file.text)
  })
}

/** The bytes of a file object, already a byte string; distinct from strings the caller gave. */
class FileText {
  constructor(text) {
    this.text = text
  }
}

/** Files by path: { stat signature, text }; re-read only when the file changes. */
const files = new Map()

function fileStat(path) {
  try {
    return fs.statSync(path, { throwIfNoEntry: false }) ?? null
  } catch {
    return null
  }
}

/**
 * { text, empty }: the file as a byte string cut at its first NUL. `strict` (file objects):
 * failures throw Bun's fs error; otherwise (keyFile…, which BoringSSL reads) an unreadable file
 * reads as empty.
 */
function readFile(path, strict) {
  const stat = fileStat(path)
  const signature = stat === null ? '' : `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`
  const cached = files.get(path)
  if (cached !== undefined && cached.signature === signature && signature !== '') return cached
  let file
  try {
    const bytes = fs.readFileSync(path)
    file = { signature, text: bytesText(bytes), empty: bytes.length === 0 }
  } catch (err) {
    if (strict) throw fsError(err)
    file = { signature, text: '', empty: true }
  }
  return stat === null ? file : remember(files, path, file)
}

/** Node's fs error in Bun's shape: own keys code, path (not for ''), syscall, errno. */
function fsError(from) {
  const path = from.path === '' ? undefined : from.path
  const err = new Error(path === undefined ? from.message.replace(/ ''$/, '') : from.message)
  err.code = from.code
  if (path !== undefined) err.path = path
  err.syscall = from.syscall
  err.errno = from.errno
  return err
}

function bytesText(bytes) {
  const nul = bytes.indexOf(0)
  return bytes.toString('latin1', 0, nul === -1 ? bytes.length : nul)
}

// ---------------------------------------------------------------------------------------------
// Stage 3: contents

/**
 * Everything at once, or the rest of it for an input from checkTlsOptions/readTlsFiles: null
 * when `tls` means plain TCP, else (a fresh object each call):
 *   certs      Buffer[]   our chain in DER, leaf first; [] when none (Bun accepts a key without a
 *                         certificate and the reverse at listen time; handshakes then fail)
 *   key        Buffer|null  PKCS#8 DER, decrypted
 *   ca         Buffer[]|null  trusted roots in DER; null = the default roots. [] = trust nothing
 *                         (a `ca` with no certificate in it, e.g. a key PEM, replaces the roots)
 *   serverName string|undefined  client only; '' = send no SNI
 *   rejectUnauthorized  boolean  default true, false when NODE_TLS_REJECT_UNAUTHORIZED=0
 *   requestCert boolean
 *   alpn       Buffer[]   protocol names from Bun's wire format; [] when absent or malformed
 *   alpnMalformed boolean  ALPNProtocols was given but malformed: a Bun server then refuses every
 *                          client that offers ALPN (no_application_protocol), a client offers none
 *   secureOptions number  OpenSSL SSL_OP_* bits, e.g. 0x20000000 = no TLS 1.3
 *   cacheKey   string     sha256 hex over everything above except serverName
 */
function parseTlsOptions(tls, isServer) {
  const input = tls instanceof TlsInput ? tls : checkTlsOptions(tls)
  if (input === null || !wantsTls(input)) return null
  readTlsFiles(input)
  const config = buildConfig(input)
  return {
    certs: config.certs,
    key: config.key,
    ca: config.ca,
    serverName: isServer || input.serverName === null ? undefined : input.serverName,
    rejectUnauthorized: config.rejectUnauthorized,
    requestCert: config.requestCert,
    alpn: config.alpn,
    alpnMalformed: config.alpnMalformed,
    secureOptions: config.secureOptions,
    cacheKey: config.cacheKey,
  }
}

/** Parsed units by content: byte strings and caller strings kept apart (a string is UTF-8). */
const certUnits = { strings: new Map(), bytes: new Map() }
const keyUnits = { strings: new Map(), bytes: new Map() }
const caUnits = { strings: new Map(), bytes: new Map() }
const checked = { strings: new Map(), bytes: new Map() } // dhParams, ciphers and ALPN
const identities = new Map() // several certificates or keys: their unit ids → the identity used
const MAX_ENTRIES = 256
let nextId = 1 // unit ids, never reused

function buildConfig(input) {
  const certs = input.certFile !== null ? [new FileText(readFile(input.certFile, false).text)] : input.cert ?? NONE
  const certList = certs.map((entry) => unit(certUnits, entry, '', parseCert))
  const pass = input.passphrase ?? ''
  const keys = input.keyFile !== null ? [new FileText(readFile(input.keyFile, false).text)] : input.key ?? NONE
  // One certificate and one key (or either from a file): every key must fit the last
  // certificate, checked as it is loaded. Otherwise Bun matches keys to certificates by type.
  const single = input.certFile !== null || input.keyFile !== null || (certList.length <= 1 && keys.length <= 1)
  const leaf = single ? certList[certList.length - 1] : undefined
  const keyList = keys.map((entry) => {
    const key = unit(keyUnits, entry, pass, (text) => parseKey(text, pass))
    if (leaf !== undefined) checkPair(leaf, key)
    return key
  })
  const identity = single ? singleIdentity(leaf, keyList[keyList.length - 1]) : identityByType(certList, keyList)
  let caList = null
  if (input.caFile !== null) {
    caList = [unit(caUnits, new FileText(readFile(input.caFile, false).text), 'file', parseCaFile)]
  } else if (input.ca !== null) {
    caList = input.ca.map((entry) => unit(caUnits, entry, '', parseCa))
  }
  if (input.dhParamsFile !== null) unit(checked, new FileText(readFile(input.dhParamsFile, false).text), 'dh', checkDh)
  if (input.ciphers !== null) unit(checked, input.ciphers, 'ciphers', ciphersOk)
  const alpn = input.alpn === null ? NO_ALPN : unit(checked, input.alpn, 'alpn', alpnUnit)
  const reject = input.rejectUnauthorized ?? process.env.NODE_TLS_REJECT_UNAUTHORIZED !== '0'
  // Configs hang off the identity, then the CAs (null, the one unit, or their ids), the ALPN
  // unit and the flags, so that a repeated call builds no key string.
  const caKey = caList === null ? null : caList.length === 1 ? caList[0] : caList.map((u) => u.id).join(',')
  const flags = (reject ? 1 : 0) + (input.requestCert ? 2 : 0) + input.secureOptions * 4
  const byCa = identity.configs.get(caKey) ?? remember(identity.configs, caKey, new Map())
  const byAlpn = byCa.get(alpn) ?? remember(byCa, alpn, new Map())
  return byAlpn.get(flags) ?? remember(byAlpn, flags, newConfig(identity, caList, alpn, reject, input))
}

const NONE = []

function newConfig(identity, caList, alpn, reject, input) {
  const ca = caList === null ? null : caList.flatMap((u) => u.ders)
  const hash = crypto.createHash('sha256')
  for (const der of identity.certs) hash.update(`c${der.length}:`).update(der)
  if (identity.key !== null) hash.update(`k${identity.key.length}:`).update(identity.key)
  if (ca !== null) for (const der of ca) hash.update(`a${der.length}:`).update(der)
  hash.update(`|${ca === null ? 'default' : 'ca'}|${alpn.wire}|${reject}|${input.requestCert}|${input.secureOptions}`)
  return Object.freeze({
    certs: identity.certs,
    key: identity.key,
    ca,
    rejectUnauthorized: reject,
    requestCert: input.requestCert,
    alpn: alpn.list,
    alpnMalformed: alpn.malformed,
    secureOptions: input.secureOptions,
    cacheKey: hash.digest('hex'),
  })
}

/**
 * The cached result of `parse` for one entry (a caller's string, bytes, or a FileText), `extra`
 * distinguishing parses of the same content (the passphrase). Failures are not cached.
 */
function unit(cache, entry, extra, parse) {
  let map
  let content
  if (typeof entry === 'string') {
    map = cache.strings
    content = entry
  } else {
    map = cache.bytes
    content = entry instanceof FileText ? entry.text : viewBytes(entry).toString('latin1')
  }
  let byExtra = map.get(content)
  let found = byExtra?.get(extra)
  if (found !== undefined) return found
  const text = typeof entry === 'string' ? stringText(entry) : bytesText(Buffer.from(content, 'latin1'))
  found = parse(text)
  found.id = nextId++
  if (byExtra === undefined) byExtra = remember(map, content, new Map())
  byExtra.set(extra, found)
  return found
}

/** A caller's string as the UTF-8 bytes Bun hands BoringSSL, as a byte string cut at NUL. */
function stringText(text) {
  if (!/[^\x01-\x7f]/.test(text)) return text
  return bytesText(Buffer.from(text, 'utf8'))
}

const parseCert = (text) => ssl.parseCertificateChain(text)

function parseKey(text, pass) {
  const key = ssl.parsePrivateKey(text, pass)
  return { key, type: key.asymmetricKeyType, der: key.export({ type: 'pkcs8', format: 'der' }) }
}

const parseCa = (text) => ({ ders: ssl.parseCaEntry(text) })
const parseCaFile = (text) => ({ ders: ssl.parseCaFile(text) })
const checkDh = (text) => (ssl.checkDhParams(text), {})
const ciphersOk = (text) => (checkCiphers(text), {})

/** Throws unless `key` fits `cert`; a pair that fits is remembered on the certificate's unit. */
function checkPair(cert, key) {
  cert.fits ??= new WeakSet()
  if (cert.fits.has(key)) return
  const error = ssl.keyMismatch(cert.x509, cert.type, key.key)
  if (error !== null) ssl.throwOpenssl(error)
  cert.fits.add(key)
}

/** The identity of one certificate unit (or none) and one key unit (or none), kept on the units. */
function singleIdentity(leaf, key) {
  const owner = leaf ?? key ?? NO_UNIT
  owner.identities ??= new WeakMap()
  const other = leaf === undefined ? NO_UNIT : key ?? NO_UNIT
  let identity = owner.identities.get(other)
  if (identity === undefined) {
    identity = newIdentity(leaf, key)
    owner.identities.set(other, identity)
  }
  return identity
}

const NO_UNIT = {}

function newIdentity(cert, key) {
  return { certs: cert === undefined ? NONE : cert.ders, key: key === undefined ? null : key.der, configs: new Map() }
}

// Which identity Bun presents when it has several: EC first, then Ed25519, then RSA.
const PREFERENCE = ['ec', 'ed25519', 'rsa']

/**
 * Several certificates or keys (Bun 1.4.4, observed): certificates fill one slot per key type,
 * a later one replacing an earlier one of the same type; keys of a type with no slot are
 * ignored; a slot that was offered keys of its type but matches none is KEY_VALUES_MISMATCH.
 */
function identityByType(certList, keyList) {
  const id = `${certList.map((u) => u.id).join(',')}/${keyList.map((u) => u.id).join(',')}`
  let identity = identities.get(id)
  if (identity !== undefined) return identity
  const slots = new Map()
  for (const cert of certList) slots.set(cert.type, { cert, key: null })
  for (const slot of slots.values()) {
    const offered = keyList.filter((key) => key.type === slot.cert.type)
    for (const key of offered) {
      if (ssl.keyMismatch(slot.cert.x509, slot.cert.type, key.key) === null) slot.key = key
    }
    if (offered.length > 0 && slot.key === null) ssl.throwOpenssl(['0b000074', 'KEY_VALUES_MISMATCH'])
  }
  const chosen = PREFERENCE.map((type) => slots.get(type)).find((slot) => slot?.key) ?? [...slots.values()].pop()
  identity = chosen === undefined
    ? newIdentity(undefined, keyList[keyList.length - 1])
    : newIdentity(chosen.cert, chosen.key ?? undefined)
  return remember(identities, id, identity)
}

// ---------------------------------------------------------------------------------------------
// ALPN

const NO_ALPN = { wire: '', list: [], malformed: false }

function alpnUnit(text) {
  const wire = Buffer.from(text, 'latin1')
  const list = alpnList(wire)
  return { wire: wire.toString('hex'), list, malformed: list.length === 0 && wire.length > 0 }
}

/**
 * Protocol names from ALPN wire format (each name prefixed by its length), as Bun passes
 * ALPNProtocols to BoringSSL: strings as UTF-8, everything cut at the first NUL byte. A list that
 * is empty, truncated or has an empty name gives [].
 */
function alpnList(wire) {
  if (typeof wire !== 'string' && !(wire instanceof ArrayBuffer) && !ArrayBuffer.isView(wire)) return []
  let bytes = typeof wire === 'string' ? Buffer.from(wire, 'utf8') : viewBytes(wire)
  const nul = bytes.indexOf(0)
  if (nul !== -1) bytes = bytes.subarray(0, nul)
  const list = []
  for (let pos = 0; pos < bytes.length; ) {
    const len = bytes[pos]
    if (len === 0 || pos + 1 + len > bytes.length) return []
    list.push(Buffer.from(bytes.subarray(pos + 1, pos + 1 + len)))
    pos += 1 + len
  }
  return list
}

/** A Buffer over the bytes of an ArrayBuffer or any view (no copy). */
function viewBytes(value) {
  if (value instanceof ArrayBuffer) return Buffer.from(value)
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

function remember(map, key, value) {
  if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value)
  map.set(key, value)
  return value
}

module.exports = {
  requestsTls,
  checkTlsOptions,
  readTlsFiles,
  parseTlsOptions,
  alpnList,
  opensslError: ssl.opensslError,
  opensslMessage: ssl.opensslMessage,
}
