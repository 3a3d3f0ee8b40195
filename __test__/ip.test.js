'use strict'
// lib/ip.js answers as node:net's isIPv4/isIPv6 do (the package checks IP literals without
// loading node:net, which costs a process about 1.5 MB). Pure JS: the same on Bun.

const net = require('node:net')
const { isIPv4, isIPv6 } = require('../lib/ip')
const { seeded } = require('./helpers')

function expectSame(text) {
  if (isIPv4(text) !== net.isIPv4(text) || isIPv6(text) !== net.isIPv6(text)) {
    throw new Error(
      `${JSON.stringify(text)}: isIPv4 ${isIPv4(text)} (node:net ${net.isIPv4(text)}), ` +
        `isIPv6 ${isIPv6(text)} (node:net ${net.isIPv6(text)})`,
    )
  }
}

test('the literals that decide the edge cases', () => {
  const cases = [
    '127.0.0.1', '0.0.0.0', '255.255.255.255', '256.0.0.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '1..2.3', '',
    '::', '::1', '1::', ':', ':::', ':1::2', '1:::2', '1::2::3', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '::2:3:4:5:6:7:8:9', '12345::', '::g', 'ABCD:ef01::',
    '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '1:2:3:4:5::1.2.3.4',
    '1:2:3:4:5:6::1.2.3.4', '::1.2.3.4', '1.2.3.4::', '1::1.2.3', '1.2.3.4:1::',
    'fe80::1%eth0', 'fe80::1%', 'fe80::1%a%b', 'fe80::1%a:b.c-d', 'fe80::1%a b', '1.2.3.4%eth0',
  ]
  for (const text of cases) expectSame(text)
  expect(isIPv6('fe80::1%eth0')).toBe(true)
  expect(isIPv4('127.0.0.1')).toBe(true)
})

test('random near-literals (seeded)', () =>
  seeded((random) => {
    const hexGroup = () => random.int(0, 0xfffff).toString(16).slice(0, random.int(0, 5))
    const octet = () => String(random.pick([random.int(0, 300), random.int(0, 9), `0${random.int(0, 99)}`]))
    const v4 = () => Array.from({ length: random.int(2, 5) }, octet).join('.')
    const v6 = () => {
      const groups = Array.from({ length: random.int(0, 9) }, () => (random.int(0, 9) === 0 ? '' : hexGroup()))
      if (random.int(0, 3) === 0) groups.push(v4())
      let text = groups.join(':')
      if (random.int(0, 2) === 0) {
        const at = random.int(0, text.length)
        text = text.slice(0, at) + '::' + text.slice(at)
      }
      if (random.int(0, 5) === 0) text += '%' + random.pick(['eth0', '', 'a:b', 'x y', '1.2', '%'])
      return text
    }
    for (let i = 0; i < 50_000; i++) expectSame(random.int(0, 3) === 0 ? v4() : v6())
  }))
