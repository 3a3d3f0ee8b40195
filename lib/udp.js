'use strict'
// Bun's udpSocket over NativeUdpSocket. Argument checks, messages and return values follow
// Bun 1.4.4; the socket lives in Rust.

const binding = require('./native')
const { DATAGRAM_FIELDS, DatagramFlag } = binding
const { Length: LENGTH, Port: PORT, Address: ADDRESS, Flags: FLAGS } = binding.DatagramField
const { HandleResource, disposeSymbols, handles, kEvent, kState, EventKind, reportHandlerError, ERROR_ALONE } = require('./dispatch')
const { isIPv4, isIPv6 } = require('./ip')
const { datagramBytes } = require('./write')
const { invalidArgType, outOfRange, fromNative, einval, ebadf, socketClosed, bindError } = require('./errors')

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

/** Everything a UDP socket holds: one object behind `kState`. */
class UdpState {
  constructor(native, hostname, handlers, binaryType, connected, resource) {
    this.native = native
    this.id = native.id
    /** The user's `data`, `drain` and `error`; reload() replaces those it names. */
    this.handlers = handlers
    this.hostname = hostname
    this.binaryType = binaryType
    this.connected = connected
    this.closed = false
    /** What the getters answered first: Bun keeps it, even after reload() or close(). */
    this.answered = {}
    /** The last destination string send() parsed, and its canonical form (see `destination`). */
    this.lastAddress = null
    this.lastIp = null
    this.resource = resource
  }
}

class UDPSocket {
  constructor(native, hostname, handlers, binaryType, connected, resource) {
    this[kState] = new UdpState(native, hostname, handlers, binaryType, connected, resource)
  }

  get hostname() {
    return cached(this[kState], 'hostname', (state) => state.hostname)
  }

  get port() {
    return cached(this[kState], 'port', (state) => state.native.address()?.port)
  }

  get address() {
    return cached(this[kState], 'address', (state) => state.native.address() ?? undefined)
  }

  get remoteAddress() {
    return cached(this[kState], 'remoteAddress', (state) => state.native.remoteAddress() ?? undefined)
  }

  get binaryType() {
    return cached(this[kState], 'binaryType', (state) => state.binaryType)
  }

  get closed() {
    return this[kState].closed
  }

  get fd() {
    const state = this[kState]
    return state.closed ? -1 : state.native.fd
  }

  send(data, port, address) {
    const state = this[kState]
    if (state.closed) throw socketClosed()
    let result
    if (state.connected) {
      if (arguments.length === 3) throw invalidArgType('Cannot specify destination on connected socket')
      if (arguments.length !== 1) throw invalidArgType(`Expected 1 argument, got ${arguments.length}`)
      result = state.native.send(datagramBytes(data, 'Expected ArrayBufferView or string as first argument'))
    } else {
      if (arguments.length !== 3) throw invalidArgType(`Expected 3 arguments, got ${arguments.length}`)
      const to = destination(state, port, address)
      const bytes = datagramBytes(data, 'Expected ArrayBufferView or string as first argument')
      // Reading the port or the address may have closed the socket.
      if (state.closed) throw socketClosed()
      result = state.native.send(bytes, to.port, to.address)
    }
    if (typeof result === 'boolean') return result
    throw fromNative(result)
  }

  sendMany(packets) {
    const state = this[kState]
    if (state.closed) throw socketClosed()
    if (arguments.length === 0) throw invalidArgType('Expected 1 argument, got 0')
    if (!Array.isArray(packets)) throw invalidArgType("Expected first argument to be a array for 'sendMany'.")
    const connected = state.connected
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
      const bytes = datagramBytes(packets[i * step], 'Expected ArrayBufferView or string as payload')
      chunks[i] = bytes
      lengths[i] = bytes.byteLength
      if (!connected) {
        const to = destination(state, packets[i * 3 + 1], packets[i * 3 + 2])
        ports[i] = to.port
        let index = addresses.length > 0 && addresses[addresses.length - 1] === to.address ? addresses.length - 1 : addresses.indexOf(to.address)
        if (index === -1) index = addresses.push(to.address) - 1
        addressOf[i] = index
      }
    }
    if (count === 0) return 0
    const bytes = count === 1 ? chunks[0] : Buffer.concat(chunks)
    const result = state.native.sendMany(bytes, lengths, ports, addressOf, addresses)
    if (typeof result === 'number') return result
    throw fromNative(result)
  }

  close() {
    const state = this[kState]
    if (state.closed) return
    state.closed = true
    handles.delete(state.id)
    state.native.close()
    state.resource.close()
  }

  ref() {
    const state = this[kState]
    if (state.closed) return
    state.native.ref()
    state.resource.ref()
  }

  unref() {
    const state = this[kState]
    if (state.closed) return
    state.native.unref()
    state.resource.unref()
  }

  reload(options) {
    if (arguments.length === 0) throw invalidArgType('Expected 1 argument')
    const parsed = parseOptions(options)
    const state = this[kState]
    if (state.closed) return
    // Handlers not named keep their old value; binaryType always follows the new options.
    for (const name of ['data', 'drain', 'error']) {
      if (parsed.handlers[name] !== undefined) state.handlers[name] = parsed.handlers[name]
    }
    state.binaryType = parsed.binaryType
  }

  setBroadcast(enabled) {
    const state = checkOption(this, arguments.length, 1)
    applied(stillOpen(state).setBroadcast(!!enabled))
    return enabled
  }

  setTTL(ttl) {
    const state = checkOption(this, arguments.length, 1)
    const value = int32(ttl)
    if (value < 1 || value > 255) throw einval()
    applied(stillOpen(state).setTTL(value))
    return value
  }

  setMulticastTTL(ttl) {
    const state = checkOption(this, arguments.length, 1)
    const value = int32(ttl)
    if (value < 1 || value > 255) throw einval()
    applied(stillOpen(state).setMulticastTTL(value))
    return value
  }

  setMulticastLoopback(enabled) {
    const state = checkOption(this, arguments.length, 1)
    applied(stillOpen(state).setMulticastLoopback(!!enabled))
    return enabled
  }

  setMulticastInterface(interfaceAddress) {
    const state = checkOption(this, arguments.length, 1)
    const address = interfaceAddress === null || interfaceAddress === undefined ? null : parseInterface(toText(interfaceAddress))
    if (address === null) return false
    applied(stillOpen(state).setMulticastInterface(address))
    return true
  }

  addMembership(multicastAddress, interfaceAddress) {
    return membership(this, true, arguments.length, multicastAddress, interfaceAddress)
  }

  dropMembership(multicastAddress, interfaceAddress) {
    return membership(this, false, arguments.length, multicastAddress, interfaceAddress)
  }

  addSourceSpecificMembership(sourceAddress, groupAddress, interfaceAddress) {
    return sourceMembership(this, true, arguments.length, sourceAddress, groupAddress, interfaceAddress)
  }

  dropSourceSpecificMembership(sourceAddress, groupAddress, interfaceAddress) {
    return sourceMembership(this, false, arguments.length, sourceAddress, groupAddress, interfaceAddress)
  }

  [kEvent](kind, a, b) {
    if (this[kState].closed) return
    if (kind === EventKind.Datagrams) return deliver(this, a, b)
    if (kind === EventKind.Drain) return callDrain(this)
    if (kind === EventKind.Error) {
      const err = fromNative(a)
      err.errqueue = true
      return reportHandlerError(this, err, ERROR_ALONE)
    }
  }

  get [Symbol.toStringTag]() {
    return 'UDPSocket'
  }
}

/** The state of a socket a setter may act on: Bun checks closed first, then the count. */
function checkOption(socket, argc, needed) {
  const state = socket[kState]
  if (state.closed) throw ebadf()
  if (argc < needed) throw invalidArgType(`Expected ${needed} argument${needed === 1 ? '' : 's'}, got ${argc}`)
  return state
}

/**
 * The native socket, once the arguments are coerced: that may have closed the socket, which Bun
 * then reports rather than EBADF.
 */
function stillOpen(state) {
  if (state.closed) throw socketClosed()
  return state.native
}

/** What a native setter answered: nothing once applied, else the failure to throw. */
function applied(failure) {
  if (failure != null) throw fromNative(failure)
}

/** add/dropMembership; `join` for add. */
function membership(socket, join, argc, group, iface) {
  const state = checkOption(socket, argc, 1)
  const groupIp = parseIp(toText(group))
  if (groupIp === null) throw einval()
  // Bun ignores an interface it cannot parse.
  const ifaceIp = iface === undefined || iface === null ? null : parseInterface(toText(iface))
  if (ifaceIp !== null && family(ifaceIp) !== family(groupIp)) {
    throw invalidArgType('Family mismatch between address and interface')
  }
  applied(stillOpen(state).membership(join, groupIp, ifaceIp ?? undefined))
  return true
}

/** add/dropSourceSpecificMembership; `join` for add. */
function sourceMembership(socket, join, argc, source, group, iface) {
  const state = checkOption(socket, argc, 2)
  const sourceIp = parseIp(toText(source))
  const groupIp = parseIp(toText(group))
  if (sourceIp === null || groupIp === null) throw einval()
  if (family(sourceIp) !== family(groupIp)) {
    throw invalidArgType('Family mismatch between source and group addresses')
  }
  const ifaceIp = iface === undefined || iface === null ? null : parseInterface(toText(iface))
  if (ifaceIp !== null && family(ifaceIp) !== family(groupIp)) {
    throw invalidArgType('Family mismatch among source, group and interface addresses')
  }
  applied(stillOpen(state).sourceMembership(join, sourceIp, groupIp, ifaceIp ?? undefined))
  return true
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
  if (typeof result === 'number') return resolving(result, parsed)
  if (!(result instanceof binding.NativeUdpSocket)) throw bindError(result, parsed.hostname)
  return Promise.resolve(opened(result, parsed, new HandleResource('BunSocketsUDP')))
}

/**
 * A socket whose hosts are names: they resolve off the JS thread (Bun blocks it), then the
 * socket is bound and `open` arrives on its id, or `connectError` with what failed (a rejection,
 * where an IP literal's failure throws at the call).
 */
function resolving(id, parsed) {
  // Made now, so `jest --detectOpenHandles` points at this call while the name resolves.
  const resource = new HandleResource('BunSocketsUDP')
  return new Promise((resolve, reject) => {
    handles.set(id, {
      [kEvent](kind, a) {
        handles.delete(id)
        if (kind === EventKind.Open) return resolve(opened(a, parsed, resource))
        resource.close()
        reject(bindError(a, parsed.hostname))
      },
    })
  })
}

function opened(native, parsed, resource) {
  const socket = new UDPSocket(native, parsed.hostname, parsed.handlers, parsed.binaryType, parsed.connect !== undefined, resource)
  handles.set(native.id, socket)
  return socket
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

/**
 * Port then address, checked as Bun checks them; addresses must be IP literals. The socket
 * remembers the last address string it parsed: a send() loop to one peer then skips the parse
 * (measured: 15 % more send() calls per second).
 */
function destination(state, port, address) {
  // `lastIp` is null until a first address was parsed: a null address must not match the
  // initial `lastAddress`.
  if (address === state.lastAddress && state.lastIp !== null && typeof port === 'number' && (port | 0) === port && port >= 1 && port <= 65535) {
    return { port, address: state.lastIp }
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
    state.lastAddress = address
    state.lastIp = ip
  }
  return { port: number, address: ip }
}

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

/** An interface's address: as `parseIp`, but an IPv6 "%scope" stays (it names the interface). */
function parseInterface(text) {
  const ip = parseIp(text)
  const percent = text.indexOf('%')
  return ip !== null && percent !== -1 && family(ip) === 6 ? ip + text.slice(percent) : ip
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

function cached(state, key, compute) {
  const answered = state.answered
  if (key in answered) return answered[key]
  if (state.closed && key !== 'hostname' && key !== 'binaryType') return undefined
  return (answered[key] = compute(state))
}

// One event carries a batch: a Buffer of payloads back to back, and [meta, ...addresses] where
// meta has DATAGRAM_FIELDS int32 per datagram (src/js/mod.rs).
function deliver(socket, payloads, list) {
  const state = socket[kState]
  const meta = new Int32Array(list[0].buffer, list[0].byteOffset, list[0].byteLength / 4)
  let offset = 0
  for (let i = 0; i < meta.length; i += DATAGRAM_FIELDS) {
    if (state.closed) return
    const length = meta[i + LENGTH]
    const start = offset
    offset += length
    const handler = state.handlers.data
    if (handler === undefined) continue
    const bits = meta[i + FLAGS]
    const flags = { truncated: (bits & DatagramFlag.Truncated) !== 0, ipv6: (bits & DatagramFlag.Ipv6) !== 0 }
    try {
      const data = convert(payloads, start, length, state.binaryType)
      handler.call(socket, socket, data, meta[i + PORT], list[meta[i + ADDRESS] + 1], flags)
    } catch (err) {
      reportHandlerError(socket, err, ERROR_ALONE)
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

// Bun calls `drain(socket)`; what it throws goes to `error(err)`.
function callDrain(socket) {
  const handler = socket[kState].handlers.drain
  if (handler === undefined) return
  try {
    handler.call(socket, socket)
  } catch (err) {
    reportHandlerError(socket, err, ERROR_ALONE)
  }
}

module.exports = { udpSocket, UDPSocket }
