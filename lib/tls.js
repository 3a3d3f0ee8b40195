'use strict'
// TLS pieces that need no socket: native configs cached per distinct options, the errors Bun
// reports for handshakes, and the names Node gives ciphers and groups.

const { isIPv4, isIPv6 } = require('./ip')
const binding = require('./native')
const { tlsError } = require('./errors')

// OpenSSL's `secureOptions` bits that rustls can honour.
const SSL_OP_NO_TLSv1_2 = 0x08000000
const SSL_OP_NO_TLSv1_3 = 0x20000000

/** Native configs by side and options digest; bounded, oldest dropped first. */
const configs = new Map()
const MAX_CONFIGS = 64

/**
 * The native configuration for parsed options (see tls-options.js), built once per distinct
 * options: sessions resume only between sockets that share one. A server's is a copy per call.
 */
function nativeConfig(parsed, isServer) {
  const key = `${isServer ? 'S' : 'C'}:${parsed.cacheKey}`
  let config = configs.get(key)
  if (config !== undefined) return isServer ? config.forListener() : config
  const result = binding.tlsConfig(
    {
      certs: parsed.certs,
      key: parsed.key ?? undefined,
      ca: parsed.ca ?? undefined,
      extraCa: extraCaCerts(),
      rejectUnauthorized: parsed.rejectUnauthorized,
      requestCert: parsed.requestCert,
      alpn: parsed.alpn,
      alpnMalformed: parsed.alpnMalformed === true,
      tls12: ((parsed.secureOptions ?? 0) & SSL_OP_NO_TLSv1_2) === 0,
      tls13: ((parsed.secureOptions ?? 0) & SSL_OP_NO_TLSv1_3) === 0,
    },
    isServer,
  )
  if (!(result instanceof binding.NativeTlsConfig)) throw tlsError(result)
  config = result
  if (configs.size >= MAX_CONFIGS) configs.delete(configs.keys().next().value)
  configs.set(key, config)
  // Each listener gets its own copy: the hooks its handlers need are its own (tls-events.js).
  return isServer ? config.forListener() : config
}

let extraCa = null

/**
 * The certificates NODE_EXTRA_CA_CERTS names (DER), read once, when the first TLS config is
 * built. A file that cannot be used adds nothing; Node itself
 * already warned about it at startup (Bun prints the same warning here).
 */
function extraCaCerts() {
  if (extraCa !== null) return extraCa
  extraCa = []
  const file = process.env.NODE_EXTRA_CA_CERTS
  if (!file) return extraCa
  let text = ''
  try {
    text = require('node:fs').readFileSync(file, 'latin1')
  } catch {}
  // Only split and decoded here (a system bundle holds ~150: parsing each in JS took 80 ms);
  // the native side skips what is no certificate.
  for (const match of text.matchAll(PEM_CERTIFICATE)) extraCa.push(Buffer.from(match[1], 'base64'))
  return extraCa
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*)-----END CERTIFICATE-----/g

/**
 * Node's checkServerIdentity() reason, which Bun reports, for a certificate (Bun's legacy
 * object, or undefined) that does not name `host`: an IP host is looked up among the IP
 * addresses, a DNS host among the DNS names, or the subject CN when there are none.
 */
function altnameError(host, cert) {
  host = host.replace(/\.$/, '')
  const altNames = cert?.subjectaltname
  const dnsNames = []
  const ips = []
  for (const name of altNames ? altNames.split(', ') : []) {
    if (name.startsWith('DNS:')) dnsNames.push(name.slice(4))
    else if (name.startsWith('IP Address:')) ips.push(canonicalIp(name.slice(11)))
  }
  let reason
  if (isIPv4(host) || isIPv6(host)) reason = `IP: ${host} is not in the cert's list: ${ips.join(', ')}`
  else if (dnsNames.length > 0) reason = `Host: ${host}. is not in the cert's altnames: ${altNames}`
  else if (cert?.subject?.CN) reason = `Host: ${host}. is not cert's CN: ${cert.subject.CN}`
  else reason = 'Cert does not contain a DNS name'
  return tlsError({
    code: binding.CERT_ALTNAME_INVALID,
    message: `Hostname/IP does not match certificate's altnames: ${reason}`,
  })
}

/** An IP address as Node's canonicalizeIP() writes it ("0:0:0:0:0:0:0:1" → "::1"). */
function canonicalIp(ip) {
  if (isIPv6(ip)) return new URL(`http://[${ip}]`).hostname.slice(1, -1)
  return ip
}

/** What getAuthorizationError() gives before the handshake, and on servers without a client certificate. */
// rustls suite names → OpenSSL's (TLS 1.3 suites are spelled the same both ways there).
const TLS12_NAMES = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
}

/** getCipher() for a negotiated session. */
function cipherInfo(info) {
  if (info.cipher == null) return { name: null, standardName: null, version: null }
  const standardName = info.cipher.replace(/^TLS13_/, 'TLS_')
  const name = TLS12_NAMES[standardName] ?? standardName
  return { name, standardName, version: info.version }
}

const GROUP_BITS = { X25519: 253, prime256v1: 256, secp384r1: 384 }

/** getEphemeralKeyInfo() of a client; Bun gives {} on TLS 1.3. */
function ephemeralKeyInfo(info) {
  if (info.version !== 'TLSv1.2' || info.group == null) return {}
  return { type: 'ECDH', name: info.group, size: GROUP_BITS[info.group] ?? 0 }
}

module.exports = { nativeConfig, altnameError, cipherInfo, ephemeralKeyInfo }
