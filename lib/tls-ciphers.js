'use strict'
// Cipher strings as the BoringSSL inside Bun 1.4.4 takes them (ssl_create_cipher_list, not
// strict): unknown names are skipped, syntax errors and an empty resulting list are Bun's
// "Invalid ciphers". Only validated: rustls has its own suites. TLS 1.3 suites cannot be named.

const { boringsslError } = require('./boringssl')

// Bits for key exchange, authentication, encryption and MAC, as BoringSSL's aliases combine them.
const K_RSA = 1, K_ECDHE = 2, K_PSK = 4
const A_RSA = 1, A_ECDSA = 2, A_PSK = 4
const C_3DES = 1, C_AES128 = 2, C_AES256 = 4, C_AES128GCM = 8, C_AES256GCM = 16, C_CHACHA = 32
const M_SHA1 = 1, M_AEAD = 2
const ALL = 0xff

/** [OpenSSL name, standard name, kx, auth, enc, mac]; TLS 1.2 minimum for AEAD suites. */
const SUITES = [
  ['DES-CBC3-SHA', 'TLS_RSA_WITH_3DES_EDE_CBC_SHA', K_RSA, A_RSA, C_3DES, M_SHA1],
  ['AES128-SHA', 'TLS_RSA_WITH_AES_128_CBC_SHA', K_RSA, A_RSA, C_AES128, M_SHA1],
  ['AES256-SHA', 'TLS_RSA_WITH_AES_256_CBC_SHA', K_RSA, A_RSA, C_AES256, M_SHA1],
  ['PSK-AES128-CBC-SHA', 'TLS_PSK_WITH_AES_128_CBC_SHA', K_PSK, A_PSK, C_AES128, M_SHA1],
  ['PSK-AES256-CBC-SHA', 'TLS_PSK_WITH_AES_256_CBC_SHA', K_PSK, A_PSK, C_AES256, M_SHA1],
  ['AES128-GCM-SHA256', 'TLS_RSA_WITH_AES_128_GCM_SHA256', K_RSA, A_RSA, C_AES128GCM, M_AEAD],
  ['AES256-GCM-SHA384', 'TLS_RSA_WITH_AES_256_GCM_SHA384', K_RSA, A_RSA, C_AES256GCM, M_AEAD],
  ['ECDHE-ECDSA-AES128-SHA', 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', K_ECDHE, A_ECDSA, C_AES128, M_SHA1],
  ['ECDHE-ECDSA-AES256-SHA', 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', K_ECDHE, A_ECDSA, C_AES256, M_SHA1],
  ['ECDHE-RSA-AES128-SHA', 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', K_ECDHE, A_RSA, C_AES128, M_SHA1],
  ['ECDHE-RSA-AES256-SHA', 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', K_ECDHE, A_RSA, C_AES256, M_SHA1],
  ['ECDHE-PSK-AES128-CBC-SHA', 'TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA', K_ECDHE, A_PSK, C_AES128, M_SHA1],
  ['ECDHE-PSK-AES256-CBC-SHA', 'TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA', K_ECDHE, A_PSK, C_AES256, M_SHA1],
  ['ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', K_ECDHE, A_ECDSA, C_AES128GCM,
    M_AEAD],
  ['ECDHE-ECDSA-AES256-GCM-SHA384', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', K_ECDHE, A_ECDSA, C_AES256GCM,
    M_AEAD],
  ['ECDHE-RSA-AES128-GCM-SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', K_ECDHE, A_RSA, C_AES128GCM, M_AEAD],
  ['ECDHE-RSA-AES256-GCM-SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', K_ECDHE, A_RSA, C_AES256GCM, M_AEAD],
  ['ECDHE-RSA-CHACHA20-POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', K_ECDHE, A_RSA, C_CHACHA, M_AEAD],
  ['ECDHE-ECDSA-CHACHA20-POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', K_ECDHE, A_ECDSA, C_CHACHA,
    M_AEAD],
  ['ECDHE-PSK-CHACHA20-POLY1305', 'TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256', K_ECDHE, A_PSK, C_CHACHA, M_AEAD],
]
const TLS13_SUITES = new Set(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'])

/** Alias → [kx, auth, enc, mac, minimum version: 0 any, 1 SSLv3-era suites, 2 TLS 1.2 suites]. */
const ALIASES = {
  ALL: [ALL, ALL, ALL, ALL, 0],
  HIGH: [ALL, ALL, ALL, ALL, 0],
  FIPS: [ALL, ALL, ALL, ALL, 0],
  kRSA: [K_RSA, ALL, ALL, ALL, 0],
  kECDHE: [K_ECDHE, ALL, ALL, ALL, 0],
  kEECDH: [K_ECDHE, ALL, ALL, ALL, 0],
  ECDH: [K_ECDHE, ALL, ALL, ALL, 0],
  kPSK: [K_PSK, ALL, ALL, ALL, 0],
  aRSA: [ALL, A_RSA, ALL, ALL, 0],
  aECDSA: [ALL, A_ECDSA, ALL, ALL, 0],
  ECDSA: [ALL, A_ECDSA, ALL, ALL, 0],
  aPSK: [ALL, A_PSK, ALL, ALL, 0],
  ECDHE: [K_ECDHE, ALL, ALL, ALL, 0],
  EECDH: [K_ECDHE, ALL, ALL, ALL, 0],
  RSA: [K_RSA, A_RSA, ALL, ALL, 0],
  PSK: [K_PSK, A_PSK, ALL, ALL, 0],
  '3DES': [ALL, ALL, C_3DES, ALL, 0],
  AES128: [ALL, ALL, C_AES128 | C_AES128GCM, ALL, 0],
  AES256: [ALL, ALL, C_AES256 | C_AES256GCM, ALL, 0],
  AES: [ALL, ALL, C_AES128 | C_AES256 | C_AES128GCM | C_AES256GCM, ALL, 0],
  AESGCM: [ALL, ALL, C_AES128GCM | C_AES256GCM, ALL, 0],
  CHACHA20: [ALL, ALL, C_CHACHA, ALL, 0],
  SHA1: [ALL, ALL, ALL, M_SHA1, 0],
  SHA: [ALL, ALL, ALL, M_SHA1, 0],
  SSLv3: [ALL, ALL, ALL, ALL, 1],
  TLSv1: [ALL, ALL, ALL, ALL, 1],
  'TLSv1.2': [ALL, ALL, ALL, ALL, 2],
  SHA256: [0, 0, 0, 0, 0],
  SHA384: [0, 0, 0, 0, 0],
}

const isSeparator = (ch) => ch === ':' || ch === ' ' || ch === ';' || ch === ','
const WORD = /[A-Za-z0-9._=-]/
const ALNUM = /[A-Za-z0-9]/

/** Throws Bun's "Invalid ciphers" unless BoringSSL would build a non-empty list from `rule`. */
function checkCiphers(rule) {
  if (rule === '') return // Bun 1.4.4 lets the empty string through
  const active = new Set()
  const killed = new Set()
  let text = rule
  if (text.startsWith('DEFAULT')) {
    for (const suite of SUITES) active.add(suite)
    text = text.slice(text[7] === ':' ? 8 : 7)
  }
  let i = 0
  let inGroup = false
  while (i < text.length) {
    let ch = text[i]
    let op = 'add'
    if (inGroup) {
      if (ch === ']') {
        inGroup = false
        i++
        continue
      }
      if (ch === '|') {
        i++
        continue
      }
      if (!ALNUM.test(ch)) throw boringsslError('Invalid ciphers')
    } else if (ch === '[') {
      inGroup = true
      i++
      continue
    } else if (ch === '-' || ch === '+' || ch === '!' || ch === '@') {
      op = { '-': 'del', '+': 'order', '!': 'kill', '@': 'special' }[ch]
      i++
    } else if (isSeparator(ch)) {
      i++
      continue
    }
    let matches = null
    let mask = [ALL, ALL, ALL, ALL, 0]
    let skip = false
    let word = ''
    for (let multi = false; ; multi = true) {
      const start = i
      while (i < text.length && WORD.test(text[i])) i++
      if (i === start) throw boringsslError('Invalid ciphers')
      word = text.slice(start, i)
      if (op === 'special') break
      ch = text[i]
      const exact = !multi && ch !== '+' ? SUITES.find((s) => s[0] === word || s[1] === word) : undefined
      if (exact !== undefined) matches = [exact]
      else if (!multi && ch !== '+' && TLS13_SUITES.has(word)) matches = []
      else if (Object.hasOwn(ALIASES, word)) {
        const alias = ALIASES[word]
        // Once a version alias is in a "+" rule, every later part must name the same version
        // ("TLSv1.2+AES" is void, "AES+TLSv1.2" is not): BoringSSL compares without a 0 check.
        if (mask[4] !== 0 && mask[4] !== alias[4]) skip = true
        mask = [mask[0] & alias[0], mask[1] & alias[1], mask[2] & alias[2], mask[3] & alias[3],
          skip ? mask[4] : alias[4]]
      } else {
        skip = true
      }
      if (ch !== '+') break
      i++
    }
    if (op === 'special') {
      if (word !== 'STRENGTH') throw boringsslError('Invalid ciphers')
      while (i < text.length && !isSeparator(text[i])) i++
      continue
    }
    if (skip) continue
    matches ??= SUITES.filter((s) =>
      (s[2] & mask[0]) && (s[3] & mask[1]) && (s[4] & mask[2]) && (s[5] & mask[3]) &&
      (mask[4] === 0 || mask[4] === (s[5] === M_AEAD ? 2 : 1)))
    for (const suite of matches) {
      if (op === 'add' && !killed.has(suite)) active.add(suite)
      else if (op === 'del') active.delete(suite)
      else if (op === 'kill') {
        active.delete(suite)
        killed.add(suite)
      }
    }
  }
  if (inGroup || active.size === 0) throw boringsslError('Invalid ciphers')
}

module.exports = { checkCiphers }
