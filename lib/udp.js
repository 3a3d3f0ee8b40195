'use strict'
// Bun's udpSocket over NativeUdpSocket. Argument checks, messages and return values follow
// Bun 1.4.4; the socket lives in Rust.

const binding = require('./native')
const timers = require('./timers')
const { HandleResource, disposeSymbols, handles, kEvent, EventKind } = require('./dispatch')
const { isIPv4, isIPv6 } = require('./ip')
const { isBufferSource, toBytes } = require('./write')
const { invalidArgType, outOfRange, fromNative } = require('./errors')

const kNative = Symbol('kNative')
const kId = Symbol('kId')
const kHandlers = Symbol('kHandlers')
const kBinaryType = Symbol('kBinaryType')
const kConnected = Symbol('kConnected')
const kClosed = Symbol('kClosed')
const kHostname = Symbol('kHostname')
const kCache = Symbol('kCache')
const kResource = Symbol('kResource')

// Bun's binary types for UDP: its general table, typed arrays included.
const TYPED_ARRAYS = {
  int8array: Int8Array,
  uint8clampedarray: Uint8ClampedArray,
  int16array: Int16Array,
  uint16array: Uint16Array,
  int32array: Int32Array,
  uint32array: Uint32Array,
  float32array: Float32Array,
  float64array: Float64Array,
  bigint64array: BigInt64Array,
  biguint64array: BigUint64Array,
}
const BINARY_TYPES = new Map([
  ['buffer', 'buffer'],
  ['Buffer', 'buffer'],
  ['nodebuffer', 'buffer'],
  ['arraybuffer', 'arraybuffer'],
  ['ArrayBuffer', 'arraybuffer'],
  ['uint8array', 'uint8array'],
  ['Uint8Array', 'uint8array'],
  ...Object.keys(TYPED_ARRAYS).flatMap((lower) => [
    [lower, lower],
    [TYPED_ARRAYS[lower].name, lower],
  ]),
])

class UDPSocket {
  constructor(native, hostname, handlers, binaryType, connected) {
    this[kNative] = native
    this[kId] = native.id
    this[kHostname] = hostname
    this[kHandlers] = handlers
    this[kBinaryType] = binaryType
    this[kConnected] = connected
    this[kClosed] = false
    this[kCache] = {}
    this[kResource] = new HandleResource('BunSocketsUDP')
  }

  // Bun keeps what these getters answered first, even after reload() or close().
  get hostname() {
    return cached(this, 'hostname', () => this[kHostname])
  }

  get port() {
    return cached(this, 'port', () => this[kNative].address()?.port)
  }

  get address() {
    return cached(this, 'address', () => this[kNative].address() ?? undefined)
  }

  get remoteAddress() {
    return cached(this, 'remoteAddress', () => this[kNative].remoteAddress() ?? undefined)
  }

  get binaryType() {
    return cached(this, 'binaryType', () => this[kBinaryType])
  }

  get closed() {
    return this[kClosed]
  }

  get fd() {
    return this[kClosed] ? -1 : this[kNative].fd
  }

  send(data, port, address) {
    if (this[kClosed]) throw new Error('Socket is closed')
    let result
    if (this[kConnected]) {
      if (arguments.length === 3) throw invalidArgType('Cannot specify destination on connected socket')
      if (arguments.length !== 1) throw invalidArgType(`Expected 1 argument, got ${arguments.length}`)
      result = this[kNative].send(payload(data, 'Expected ArrayBufferView or string as first argument'))
    } else {
      if (arguments.length !== 3) throw invalidArgType(`Expected 3 arguments, got ${arguments.length}`)
      const to = destination(port, address)
      const bytes = payload(data, 'Expected ArrayBufferView or string as first argument')
      // Reading the port or the address may have closed the socket.
      if (this[kClosed]) throw new Error('Socket is closed')
      result = this[kNative].send(bytes, to.port, to.address)
    }
    if (typeof result === 'boolean') return result
    throw fromNative(result)
  }

  sendMany(packets) {
    if (this[kClosed]) throw new Error('Socket is closed')
    if (arguments.length === 0) throw invalidArgType('Expected 1 argument, got 0')
    if (!Array.isArray(packets)) throw invalidArgType("Expected first argument to be a array for 'sendMany'.")
    const connected = this[kConnected]
    if (!connected && packets.length % 3 !== 0) throw invalidArgType('Expected 3 arguments for each packet')
    // Everything is checked before anything is sent, as in Bun.
    const step = connected ? 1 : 3
    const count = packets.length / step
    const chunks = new Array(count)
    const lengths = new Uint32Array(count)
    const ports = connected ? undefined : new Uint32Array(count)
    // Each distinct address crosses to Rust once; datagrams refer to it by index.
    const addressOf = connected ? undefined : new Uint32Array(count)
    const addresses = connected ? undefined : []
    for (let i = 0; i < count; i++) {
      const bytes = payload(packets[i * step], 'Expected ArrayBufferView or string as payload')
      chunks[i] = bytes
      lengths[i] = bytes.byteLength
      if (!connected) {
        const to = destination(packets[i * 3 + 1], packets[i * 3 + 2])
        ports[i] = to.port
        let index = addresses.length > 0 && addresses[addresses.length - 1] === to.address ? addresses.length - 1 : addresses.indexOf(to.address)
        if (index === -1) index = addresses.push(to.address) - 1
        addressOf[i] = index
      }
    }
    if (count === 0) return 0
    const bytes = count === 1 ? chunks[0] : Buffer.concat(chunks)
    const result = this[kNative].sendMany(bytes, lengths, ports, addressOf, addresses)
    if (typeof result === 'number') return result
    throw fromNative(result)
  }

  close() {
    if (this[kClosed]) return
    this[kClosed] = true
    handles.delete(this[kId])
    this[kNative].close()
    this[kResource].close()
  }

  ref() {
    if (this[kClosed]) return
    this[kNative].ref()
    this[kResource].ref()
  }

  unref() {
    if (this[kClosed]) return
    this[kNative].unref()
    this[kResource].unref()
  }

  reload(options) {
    if (arguments.length === 0) throw invalidArgType('Expected 1 argument')
    const parsed = parseOptions(options)
    if (this[kClosed]) return
    // Handlers not named keep their old value; binaryType always follows the new options.
    for (const name of ['data', 'drain', 'error']) {
      if (parsed.handlers[name] !== undefined) this[kHandlers][name] = parsed.handlers[name]
    }
    this[kBinaryType] = parsed.binaryType
  }

  setBroadcast(enabled) {
    this.#checkOption(arguments.length, 1)
    this.#apply('broadcast', enabled ? 1 : 0)
    return enabled
  }

  setTTL(ttl) {
    this.#checkOption(arguments.length, 1)
    const value = int32(ttl)
    if (value < 1 || value > 255) throw einval()
    this.#apply('ttl', value)
    return value
  }

  setMulticastTTL(ttl) {
    this.#checkOption(arguments.length, 1)
    const value = int32(ttl)
    if (value < 1 || value > 255) throw einval()
    this.#apply('multicastTtl', value)
    return value
  }

  setMulticastLoopback(enabled) {
    this.#checkOption(arguments.length, 1)
    this.#apply('multicastLoop', enabled ? 1 : 0)
    return enabled
  }

  setMulticastInterface(interfaceAddress) {
    this.#checkOption(arguments.length, 1)
    const address = interfaceAddress === null || interfaceAddress === undefined ? null : parseIp(toText(interfaceAddress))
    if (address === null) return false
    this.#apply('multicastInterface', undefined, address)
    return true
  }

  addMembership(multicastAddress, interfaceAddress) {
    return this.#membership('addMembership', arguments.length, multicastAddress, interfaceAddress)
  }

  dropMembership(multicastAddress, interfaceAddress) {
    return this.#membership('dropMembership', arguments.length, multicastAddress, interfaceAddress)
  }

  addSourceSpecificMembership(sourceAddress, groupAddress, interfaceAddress) {
    return this.#sourceMembership('addSourceMembership', arguments.length, sourceAddress, groupAddress, interfaceAddress)
  }

  dropSourceSpecificMembership(sourceAddress, groupAddress, interfaceAddress) {
    return this.#sourceMembership('dropSourceMembership', arguments.length, sourceAddress, groupAddress, interfaceAddress)
  }

  #checkOption(argc, needed) {
    if (this[kClosed]) throw osError('EBADF', 9, 'bad file descriptor', 'setsockopt')
    if (argc < needed) throw invalidArgType(`Expected ${needed} argument${needed === 1 ? '' : 's'}, got ${argc}`)
  }

  #apply(name, number, first, second, third) {
    // Coercing the argument may have closed the socket: Bun says so rather than EBADF.
    if (this[kClosed]) throw new Error('Socket is closed')
    const failure = this[kNative].setOption(name, number, first, second, third)
    if (failure != null) throw fromNative(failure)
  }

  #membership(name, argc, group, iface) {
    this.#checkOption(argc, 1)
    const groupIp = parseIp(toText(group))
    if (groupIp === null) throw einval()
    // Bun ignores an interface it cannot parse.
    const ifaceIp = iface === undefined || iface === null ? null : parseIp(toText(iface))
    if (ifaceIp !== null && family(ifaceIp) !== family(groupIp)) {
      throw invalidArgType('Family mismatch between address and interface')
    }
    this.#apply(name, undefined, groupIp, ifaceIp ?? undefined)
    return true
  }

  #sourceMembership(name, argc, source, group, iface) {
    this.#checkOption(argc, 2)
    const sourceIp = parseIp(toText(source))
    const groupIp = parseIp(toText(group))
    if (sourceIp === null || groupIp === null) throw einval()
    if (family(sourceIp) !== family(groupIp)) {
      throw invalidArgType('Family mismatch between source and group addresses')
    }
    const ifaceIp = iface === undefined || iface === null ? null : parseIp(toText(iface))
    if (ifaceIp !== null && family(ifaceIp) !== family(groupIp)) {
      throw invalidArgType('Family mismatch among source, group and interface addresses')
    }
    this.#apply(name, undefined, sourceIp, groupIp, ifaceIp ?? undefined)
    return true
  }

  [kEvent](kind, a, b) {
    if (this[kClosed]) return
    if (kind === EventKind.Datagrams) return deliver(this, a, b)
    if (kind === EventKind.Drain) return call(this, 'drain', [this])
    if (kind === EventKind.Error) {
      const err = fromNative(a)
      err.errqueue = true
      return reportError(this, err)
    }
  }

  get [Symbol.toStringTag]() {
    return 'UDPSocket'
  }
}

for (const symbol of disposeSymbols) {
  UDPSocket.prototype[symbol] = function dispose() {
    this.close()
  }
}

function udpSocket(options) {
  const parsed = parseOptions(options)
  const result = binding.udpSocket({
    hostname: parsed.bindHost,
    port: parsed.port,
    connectHostname: parsed.connect?.hostname,
    connectPort: parsed.connect?.port,
  })
  if (!(result instanceof binding.NativeUdpSocket)) throw bindError(result, parsed)
  const socket = new UDPSocket(result, parsed.hostname, parsed.handlers, parsed.binaryType, parsed.connect !== undefined)
  handles.set(socket[kId], socket)
  return Promise.resolve(socket)
}

/** Checks udpSocket()/reload() options in Bun's order, with Bun's messages. */
function parseOptions(options) {
  // A function is an object to Bun.
  if (options === null || (typeof options !== 'object' && typeof options !== 'function')) throw invalidArgType('Expected an object')
  let port = 0
  // NaN too is checked (and refused): only undefined and null mean 0 without a look.
  if (options.port !== undefined && options.port !== null) {
    if (typeof options.port === 'bigint') throw new TypeError("Conversion from 'BigInt' to 'number' is not allowed.")
    port = Number(options.port)
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw invalidArgType('Expected "port" to be an integer between 0 and 65535')
    }
  }
  let hostname = '0.0.0.0'
  if (options.hostname !== undefined && options.hostname !== null && options.hostname !== '') {
    if (typeof options.hostname !== 'string' && !(options.hostname instanceof String)) {
      throw invalidArgType('Expected "hostname" to be a string')
    }
    hostname = String(options.hostname)
  }
  const handlers = {}
  let binaryType = 'buffer'
  const socket = options.socket
  if (socket !== undefined && socket !== null) {
    if (typeof socket !== 'object' && typeof socket !== 'function') throw invalidArgType('Expected "socket" to be an object')
    // Bun reads binaryType only alongside a handler object.
    binaryType = parseBinaryType(options.binaryType)
    for (const name of ['data', 'drain', 'error']) {
      const fn = socket[name]
      if (fn === undefined || fn === null) continue
      if (typeof fn !== 'function') throw invalidArgType(`Expected "socket.${name}" to be a function`)
      handlers[name] = fn
    }
  }
  let connect
  if (options.connect !== undefined && options.connect !== null) {
    const target = options.connect
    if (typeof target !== 'object') throw invalidArgType('Expected "connect" to be an object')
    const host = target.hostname
    if ((typeof host !== 'string' && !(host instanceof String)) || String(host) === '') {
      throw invalidArgType('Expected "connect.hostname" to be a string')
    }
    if (target.port === undefined || target.port === null) throw invalidArgType('Expected "connect.port" to be an integer')
    if (typeof target.port === 'bigint') throw new TypeError("Conversion from 'BigInt' to 'number' is not allowed.")
    const connectPort = Number(target.port)
    if (!Number.isInteger(connectPort) || connectPort < 1 || connectPort > 65535) {
      throw invalidArgType('Expected "connect.port" to be an integer between 1 and 65535')
    }
    connect = { hostname: String(host), port: connectPort }
  }
  checkFlags(options.flags)
  // Bun binds "localhost" to the loopback it resolves to; so does getaddrinfo here.
  return { port, hostname, bindHost: hostname, handlers, binaryType, connect }
}

/** `flags`, which Bun only checks: an int32 number, or undefined/null. */
function checkFlags(flags) {
  if (flags === undefined || flags === null) return
  if (typeof flags !== 'number') throw invalidArgType(`The "flags" property must be of type number, got ${typeof flags}`)
  if (!Number.isInteger(flags)) {
    throw outOfRange(`The value of "flags" is out of range. It must be an integer. Received ${flags}`)
  }
  if (flags < -2147483648 || flags > 2147483647) {
    throw outOfRange(`The value of "flags" is out of range. It must be >= -2147483648 && <= 2147483647. Received ${flags}`)
  }
}

function parseBinaryType(value) {
  if (value === undefined || value === null || value === '') return 'buffer'
  if (typeof value !== 'string' && !(value instanceof String)) {
    throw invalidArgType('Expected "socket.binaryType" to be a string')
  }
  const type = BINARY_TYPES.get(String(value))
  if (type === undefined) {
    throw invalidArgType(`Expected "socket.binaryType" to be 'arraybuffer', 'uint8array', or 'buffer'`)
  }
  return type
}

function bindError(info, parsed) {
  if (info.syscall === 'getaddrinfo') return fromNative(info)
  if (info.syscall === 'connect') {
    const err = osError(info.code, info.errno, info.message, 'connect')
    return err
  }
  const err = new Error(`bind ${info.code} ${parsed.hostname}`)
  err.code = info.code
  err.syscall = 'bind'
  err.errno = info.errno
  err.address = parsed.hostname
  return err
}

/** A Uint8Array of what send()/sendMany() should carry, or Bun's TypeError. */
function payload(data, message) {
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (data instanceof String) return Buffer.from(String(data), 'utf8')
  if (data instanceof Uint8Array) return data
  if (isBufferSource(data)) return toBytes(data)
  throw invalidArgType(message)
}

/** Port then address, checked as Bun checks them; addresses must be IP literals. */
function destination(port, address) {
  // Fast path: the same literal address as last time, a plain port. (`lastIp` is null until a
  // first address was parsed: a null address must not match the initial `lastAddress`.)
  if (address === lastAddress && lastIp !== null && typeof port === 'number' && (port | 0) === port && port >= 1 && port <= 65535) {
    return { port, address: lastIp }
  }
  if (typeof port === 'bigint') throw new TypeError("Conversion from 'BigInt' to 'number' is not allowed.")
  const number = Number(port)
  if (!Number.isInteger(number) || number < 1 || number > 65535) {
    throw invalidArgType('Expected "port" to be an integer between 1 and 65535')
  }
  if (address === null || address === undefined || typeof address === 'boolean') throw invalidArgType('Invalid address')
  const ip = parseIp(String(address))
  if (ip === null) throw invalidArgType('Invalid address')
  if (typeof address === 'string') {
    lastAddress = address
    lastIp = ip
  }
  return { port: number, address: ip }
}

let lastAddress = null
let lastIp = null

/**
 * An IP literal in canonical form, or null. IPv4 takes the inet_aton forms Bun accepts
 * ("127.1", "0x7f.0.0.1", "2130706433"); IPv6 may carry a "%scope".
 */
function parseIp(text) {
  if (isIPv4(text)) return text
  const v4 = inetAton(text)
  if (v4 !== null) return v4
  const percent = text.indexOf('%')
  const bare = percent === -1 ? text : text.slice(0, percent)
  if (isIPv6(bare)) return bare
  return null
}

function inetAton(text) {
  const parts = text.split('.')
  if (parts.length === 0 || parts.length > 4) return null
  const numbers = []
  for (const part of parts) {
    let value
    if (/^0x[0-9a-f]+$/i.test(part)) value = parseInt(part.slice(2), 16)
    else if (/^0[0-7]*$/.test(part)) value = parseInt(part, 8)
    else if (/^[1-9][0-9]*$/.test(part)) value = parseInt(part, 10)
    else return null
    numbers.push(value)
  }
  const last = numbers.pop()
  if (numbers.some((n) => n > 255)) return null
  if (last >= 2 ** (8 * (4 - numbers.length))) return null
  let value = 0
  for (const n of numbers) value = value * 256 + n
  value = value * 2 ** (8 * (4 - numbers.length)) + last
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.')
}

/** A number as Bun's toInt32 takes it (a BigInt too). */
function int32(value) {
  return (typeof value === 'bigint' ? Number(BigInt.asIntN(32, value)) : value) | 0
}

/** A value as a string the way Bun converts it: a Symbol throws, unlike String(). */
function toText(value) {
  return `${value}`
}

function family(ip) {
  return ip.includes(':') ? 6 : 4
}

function einval() {
  return osError('EINVAL', 22, 'invalid argument', 'setsockopt')
}

function osError(code, errno, description, syscall) {
  const err = new Error(`${code}: ${description}, ${syscall}`)
  err.code = code
  err.syscall = syscall
  err.errno = -Math.abs(errno)
  return err
}

function cached(socket, key, compute) {
  const cache = socket[kCache]
  if (key in cache) return cache[key]
  if (socket[kClosed] && key !== 'hostname' && key !== 'binaryType') return undefined
  return (cache[key] = compute())
}

// One event carries a batch: a Buffer of payloads back to back, and [meta, ...addresses] where
// meta packs (length, port, address index, flags) per datagram as int32.
function deliver(socket, payloads, list) {
  const meta = new Int32Array(list[0].buffer, list[0].byteOffset, list[0].byteLength / 4)
  let offset = 0
  for (let i = 0; i < meta.length; i += 4) {
    if (socket[kClosed]) return
    const length = meta[i]
    const start = offset
    offset += length
    const handler = socket[kHandlers].data
    if (handler === undefined) continue
    const flags = { truncated: (meta[i + 3] & 1) !== 0, ipv6: (meta[i + 3] & 2) !== 0 }
    try {
      const data = convert(payloads, start, length, socket[kBinaryType])
      handler.call(socket, socket, data, meta[i + 1], list[meta[i + 2] + 1], flags)
    } catch (err) {
      reportError(socket, err)
    }
  }
}

// Each datagram gets its own memory, as in Bun (byteOffset 0, nothing shared). A fresh typed
// array of a small size lives on V8's heap: 4× cheaper than slicing an ArrayBuffer.
function convert(payloads, start, length, binaryType) {
  switch (binaryType) {
    case 'buffer': {
      const data = Buffer.allocUnsafeSlow(length)
      payloads.copy(data, 0, start, start + length)
      return data
    }
    case 'uint8array': {
      const data = new Uint8Array(length)
      data.set(payloads.subarray(start, start + length))
      return data
    }
    case 'arraybuffer':
      return payloads.buffer.slice(payloads.byteOffset + start, payloads.byteOffset + start + length)
    default: {
      const View = TYPED_ARRAYS[binaryType]
      const own = payloads.buffer.slice(payloads.byteOffset + start, payloads.byteOffset + start + length)
      return new View(own, 0, Math.floor(own.byteLength / View.BYTES_PER_ELEMENT))
    }
  }
}

function call(socket, name, args) {
  const handler = socket[kHandlers][name]
  if (handler === undefined) return
  try {
    handler.apply(socket, args)
  } catch (err) {
    reportError(socket, err)
  }
}

// Bun calls a UDP socket's `error` handler with the error alone.
function reportError(socket, err) {
  const onError = socket[kHandlers].error
  if (onError !== undefined) {
    try {
      onError.call(socket, err)
      return
    } catch (again) {
      err = again
    }
  }
  timers.nextTick(() => {
    throw err
  })
}

module.exports = { udpSocket, UDPSocket }
