'use strict'
// Node-style errors, built in the package's own realm so that `instanceof Error` holds under
// Jest. Native code hands over descriptors ({ code, errno, syscall, message, address, port });
// the shapes follow what Bun 1.4.4 throws.

function typeError(code, message) {
  const err = new TypeError(message)
  Object.defineProperty(err, 'code', { value: code, writable: true, configurable: true })
  return err
}

function rangeError(code, message) {
  const err = new RangeError(message)
  Object.defineProperty(err, 'code', { value: code, writable: true, configurable: true })
  return err
}

const invalidArgType = (message) => typeError('ERR_INVALID_ARG_TYPE', message)
const outOfRange = (message) => rangeError('ERR_OUT_OF_RANGE', message)

/** A TLS failure as Bun reports it: a plain Error whose own keys are code and errno (0). */
function tlsError(info) {
  const err = new Error(info.message)
  err.code = info.code
  err.errno = 0
  return err
}

// Bun: connect failures carry a negative errno, listen failures a positive one. A descriptor
// without a syscall is a TLS failure.
function fromNative(info, context) {
  if (info.syscall == null) return tlsError(info)
  if (info.syscall === 'getaddrinfo') {
    const err = new Error(`getaddrinfo ${info.code} ${info.address}`)
    err.code = info.code
    err.syscall = 'getaddrinfo'
    err.hostname = info.address
    err.errno = 4
    return err
  }
  if (context === 'listen') {
    const err = new Error(`Failed to listen at ${info.address}`)
    err.syscall = info.syscall
    err.errno = info.errno
    err.address = info.address
    if (info.port != null) err.port = info.port
    err.code = info.code
    return err
  }
  if (context === 'connect') {
    const err = new Error('Failed to connect')
    err.code = info.code
    err.syscall = info.syscall
    err.errno = info.errno == null ? undefined : -info.errno
    return err
  }
  const err = new Error(`${info.code}: ${info.message}, ${info.syscall}`)
  err.code = info.code
  err.syscall = info.syscall
  if (info.errno != null) err.errno = -info.errno
  return err
}

/** An OS failure as Bun's UDP socket throws it: "EINVAL: invalid argument, setsockopt". */
function osError(code, errno, description, syscall) {
  const err = new Error(`${code}: ${description}, ${syscall}`)
  err.code = code
  err.syscall = syscall
  err.errno = -Math.abs(errno)
  return err
}

/** What Bun's UDP setters throw for a value or address they refuse. */
const einval = () => osError('EINVAL', 22, 'invalid argument', 'setsockopt')

/** A UDP setter on a closed socket. */
const ebadf = () => osError('EBADF', 9, 'bad file descriptor', 'setsockopt')

/** Bun's plain Error for a UDP socket used after close (no code). */
const socketClosed = () => new Error('Socket is closed')

/** udpSocket()'s failure: name resolution, connect, or bind ("bind EADDRINUSE 127.0.0.1"). */
function bindError(info, hostname) {
  if (info.syscall === 'getaddrinfo') return fromNative(info)
  if (info.syscall === 'connect') return osError(info.code, info.errno, info.message, 'connect')
  const err = new Error(`bind ${info.code} ${hostname}`)
  err.code = info.code
  err.syscall = 'bind'
  err.errno = info.errno
  err.address = hostname
  return err
}

module.exports = {
  typeError,
  rangeError,
  invalidArgType,
  outOfRange,
  fromNative,
  tlsError,
  osError,
  einval,
  ebadf,
  socketClosed,
  bindError,
}
