'use strict'
// Where native events land. Native code calls only `dispatch`, and a throwing handler never
// reaches Rust: it goes to the socket's `error` handler or becomes an uncaught exception, as
// in Bun.

const { AsyncResource } = require('node:async_hooks')
const binding = require('./native')
const timers = require('./timers')

const kEvent = Symbol('kEvent')
// Each handle's one state object; every one has a `handlers` field, read by callHandler below.
const kState = Symbol('kState')

// What each native event is (src/js/mod.rs declares it).
const { EventKind } = binding

/** Live handles (sockets, listeners) by native id. */
const handles = new Map()

function dispatch(id, kind, a, b, c) {
  if (kind === EventKind.Slice) {
    a = Buffer.from(a, b, c)
    kind = EventKind.Data
    b = undefined
  }
  const handle = handles.get(id)
  if (handle !== undefined) handle[kEvent](kind, a, b)
  else if (kind === EventKind.Accept) {
    // Accepted just before its listener stopped: nobody will ever see it, so it must not stay
    // open (or keep the process alive).
    a.close()
    a.detach()
  }
}

// While a connect is in flight the JS thread polls instead of sleeping: the answer comes from
// the I/O thread within tens of microseconds, and waking a sleeping thread costs about as much
// again. A pending setImmediate makes libuv poll without blocking; each turn yields the core in
// case the I/O thread shares it. Bounded: half a millisecond without an answer ends it, so an
// idle process sleeps.
const SPIN_MS = 0.5
let expected = 0
let spinning = false
let spinUntil = 0

/** A connect went to the I/O thread: poll until it answers (or half a millisecond passes). */
function expectAnswer() {
  expected++
  spinUntil = performance.now() + SPIN_MS
  if (!spinning) {
    spinning = true
    timers.setImmediate(spin)
  }
}

/** A connect was answered (open or connectError). */
function answered() {
  if (expected > 0) expected--
}

function spin() {
  if (expected > 0 && performance.now() < spinUntil) {
    binding.yieldNow()
    timers.setImmediate(spin)
  } else spinning = false
}

/**
 * The async resource of a handle the user opened (listen, connect, udpSocket): made in that
 * call, so `jest --detectOpenHandles` points at it while the handle is open and ref'd, and
 * destroyed when it closes. The native event channel runs in a resource that never counts.
 */
class HandleResource extends AsyncResource {
  constructor(type) {
    super(type, { requireManualDestroy: true })
    this.refd = true
    this.closed = false
  }

  hasRef() {
    return this.refd
  }

  ref() {
    this.refd = !this.closed
  }

  unref() {
    this.refd = false
  }

  close() {
    if (this.closed) return
    this.refd = false
    this.closed = true
    this.emitDestroy()
  }
}

/** `using` and `await using` close what they hold, as in Bun. */
const disposeSymbols = [Symbol.dispose, Symbol.for('nodejs.dispose')].filter((s) => typeof s === 'symbol')

binding.init(dispatch, { hasRef: () => false })

/**
 * Calls the user's handler `name` as Bun does: `this` and the first argument are the socket,
 * followed by exactly the arguments Bun passes (`end(socket)`, `close(socket, error)`…).
 */
function callHandler(socket, name, ...args) {
  const handler = socket[kState].handlers[name]
  if (handler === undefined) return
  try {
    handler.call(socket, socket, ...args)
  } catch (err) {
    reportHandlerError(socket, err)
  }
}

/** `callHandler` for the hot path: `data(socket, chunk)`. */
function callData(socket, chunk) {
  const handler = socket[kState].handlers.data
  if (handler === undefined) return
  try {
    handler.call(socket, socket, chunk)
  } catch (err) {
    reportHandlerError(socket, err)
  }
}

// How a handle's `error` handler is called; `this` is the handle either way.
/** TCP and TLS sockets, listeners: `error(socket, err)`. */
const SOCKET_AND_ERROR = 0
/** UDP sockets: `error(err)`. */
const ERROR_ALONE = 1

/**
 * A handler threw `err`: the handle's `error` handler gets it, called with Bun's arguments for
 * the kind of handle; without one, or if that throws too, it becomes an uncaught exception.
 */
function reportHandlerError(handle, err, convention = SOCKET_AND_ERROR) {
  const onError = handle[kState].handlers.error
  if (onError !== undefined) {
    try {
      if (convention === ERROR_ALONE) onError.call(handle, err)
      else onError.call(handle, handle, err)
      return
    } catch (again) {
      err = again
    }
  }
  timers.nextTick(() => {
    throw err
  })
}

module.exports = {
  HandleResource,
  disposeSymbols,
  expectAnswer,
  answered,
  handles,
  kEvent,
  kState,
  callHandler,
  callData,
  reportHandlerError,
  EventKind,
  SOCKET_AND_ERROR,
  ERROR_ALONE,
}
