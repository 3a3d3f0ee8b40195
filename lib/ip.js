'use strict'
// IP literal checks with node:net's answers, without loading node:net (about 1.5 MB of RSS for
// a process that only needs these two questions answered). __test__/ip.test.js compares both.

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/
const ZONE = /^[0-9a-zA-Z.:-]+$/

function isIPv4(text) {
  if (typeof text !== 'string') return false
  const parts = text.split('.')
  if (parts.length !== 4) return false
  for (const part of parts) {
    if (!DECIMAL_OCTET.test(part) || Number(part) > 255) return false
  }
  return true
}

/** IPv6, with an optional "%zone", and an IPv4 address as its last 32 bits. */
function isIPv6(text) {
  if (typeof text !== 'string') return false
  let address = text
  const percent = text.indexOf('%')
  if (percent !== -1) {
    if (!ZONE.test(text.slice(percent + 1))) return false
    address = text.slice(0, percent)
  }
  const halves = address.split('::')
  if (halves.length > 2) return false
  const compressed = halves.length === 2
  const groups = []
  for (const half of halves) {
    if (half !== '') groups.push(...half.split(':'))
  }
  let units = groups.length
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]
    if (HEX_GROUP.test(group)) continue
    // Only the very last group may be dotted IPv4, and it stands for two.
    if (i === groups.length - 1 && isIPv4(group) && !(compressed && halves[1] === '')) {
      units++
      continue
    }
    return false
  }
  return compressed ? units <= 7 : units === 8
}

module.exports = { isIPv4, isIPv6 }
