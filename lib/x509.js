'use strict'
// Certificates as Bun's TLS sockets hand them out: getPeerCertificate()/getCertificate() give
// Bun's plain object (getPeerCertificate(false) with its issuer chain), getPeerX509Certificate()/
// getX509Certificate() a crypto.X509Certificate.
// Node's toLegacyObject() computes the same values as Bun (both descend from Node's
// X509ToObject); the differences are the key order, keys Bun always sets, and what Bun's
// BoringSSL cannot parse. Checked field by field against Bun 1.4.4.

const { X509Certificate } = require('node:crypto')
// Node 20's toLegacyObject() loads node:tls halfway when nothing loaded it before, leaving
// tls.createServer() and tls.connect() broken for the rest of the process: load it first.
require('node:tls')

/** A new crypto.X509Certificate for DER bytes: Bun returns a fresh object per call. */
function x509Certificate(der) {
  return new X509Certificate(der)
}

/** Bun's getPeerCertificate()/getPeerCertificate(true)/getCertificate() object for DER bytes. */
function legacyCertificate(der) {
  return legacyObject(new X509Certificate(der))
}

/**
 * Bun's getPeerCertificate(false) (Bun's argument is `abbreviated`, so false is the detailed
 * form): the leaf with `issuerCertificate` links, built as Node's GetPeerCert builds them. First
 * the issuers found among the certificates the peer sent (`chain`: DER, leaf first, in the order
 * sent), then those found among the context's trusted CAs (`trusted`: DER, PEM or
 * X509Certificate; Bun's context holds the `ca` option's certificates), and a last certificate
 * that issued itself links to itself. A self-signed leaf without keyCertSign gets no link.
 */
function detailedCertificate(chain, trusted = []) {
  const remaining = chain.map((der) => new X509Certificate(der))
  let cert = remaining.shift()
  const result = legacyObject(cert)
  let object = result
  for (;;) {
    const i = remaining.findIndex((ca) => cert.checkIssued(ca))
    if (i === -1) break
    cert = remaining.splice(i, 1)[0]
    object = object.issuerCertificate = legacyObject(cert)
  }
  const store = trusted.flatMap(certificatesOf)
  // Bounded: a store with certificates that issued each other would otherwise never end.
  for (let depth = 0; depth < store.length && !cert.checkIssued(cert); depth++) {
    const ca = store.find((candidate) => cert.checkIssued(candidate))
    if (ca === undefined) break
    cert = ca
    object = object.issuerCertificate = legacyObject(cert)
  }
  if (cert.checkIssued(cert)) object.issuerCertificate = object
  return result
}

/** The certificates in a CA option entry: an X509Certificate, DER, or PEM with one or more. */
function certificatesOf(ca) {
  if (ca instanceof X509Certificate) return [ca]
  const text = typeof ca === 'string' ? ca : Buffer.from(ca.buffer, ca.byteOffset, ca.byteLength).toString('latin1')
  const pems = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)
  return (pems ?? [ca]).map((pem) => new X509Certificate(pem))
}

function legacyObject(x509) {
  const node = x509.toLegacyObject()
  // Bun's key order, with subjectaltname, infoAccess and ext_key_usage present (undefined)
  // when the certificate lacks them, and `ca` last. subject/issuer keep their null prototype.
  const cert = {
    subject: node.subject,
    issuer: node.issuer,
    subjectaltname: node.subjectaltname === undefined ? undefined : altNames(node.subjectaltname),
    infoAccess: node.infoAccess,
  }
  if (node.modulus !== undefined) {
    if (isBoringRsaKey(node)) {
      cert.modulus = node.modulus
      cert.exponent = node.exponent
      cert.bits = node.bits
      cert.pubkey = node.pubkey
    }
  } else if (node.pubkey !== undefined && isBoringEcKey(node)) {
    cert.bits = node.bits
    cert.pubkey = node.pubkey
    cert.asn1Curve = node.asn1Curve
    if (node.nistCurve !== undefined) cert.nistCurve = node.nistCurve
  }
  cert.valid_from = node.valid_from
  cert.valid_to = node.valid_to
  cert.fingerprint = node.fingerprint
  cert.fingerprint256 = node.fingerprint256
  cert.fingerprint512 = node.fingerprint512
  cert.ext_key_usage = node.ext_key_usage
  cert.serialNumber = node.serialNumber
  cert.raw = node.raw
  cert.ca = node.ca
  return cert
}

/**
 * Bun prints every otherName as `othername:<unsupported>`, where Node names five kinds (UPN,
 * SRVName...). Entries are split at ", " safely: a value holding a comma is quoted with the
 * comma escaped as \u002c.
 */
function altNames(text) {
  if (!text.includes('othername:')) return text
  return text
    .split(', ')
    .map((name) => (name.startsWith('othername:') ? 'othername:<unsupported>' : name))
    .join(', ')
}

// BoringSSL parses EC keys on these named curves only (no explicit parameters, no secp256k1 or
// brainpool); for any other key Bun reports no bits/pubkey/curve. The values are the DER
// AlgorithmIdentifier { id-ecPublicKey, namedCurve } each such key carries.
const EC_ALGORITHMS = {
  secp224r1: Buffer.from('301006072a8648ce3d020106052b81040021', 'hex'),
  prime256v1: Buffer.from('301306072a8648ce3d020106082a8648ce3d030107', 'hex'),
  secp384r1: Buffer.from('301006072a8648ce3d020106052b81040022', 'hex'),
  secp521r1: Buffer.from('301006072a8648ce3d020106052b81040023', 'hex'),
}

function isBoringEcKey(node) {
  const algorithm = EC_ALGORITHMS[node.asn1Curve]
  // Node maps explicit parameters to the curve's name: only the named form counts.
  return algorithm !== undefined && node.raw.includes(algorithm)
}

/**
 * BoringSSL's rsa_check_public_key, which its parser applies: a modulus of at most 16384 bits
 * that is odd and longer than 33 bits, an odd exponent of 2 to 33 bits. Node's exponent is
 * BN_get_word's (all ones past 64 bits), which these bounds already refuse.
 */
function isBoringRsaKey(node) {
  const e = BigInt(node.exponent)
  const eBits = e.toString(2).length
  const nOdd = parseInt(node.modulus[node.modulus.length - 1], 16) % 2 === 1
  return node.bits <= 16384 && node.bits > 33 && nOdd && eBits >= 2 && eBits <= 33 && e % 2n === 1n
}

module.exports = { legacyCertificate, detailedCertificate, x509Certificate }
