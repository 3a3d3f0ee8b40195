'use strict'
// The real scheduling functions, taken once at load time. Jest's fake timers (and
// @sinonjs/fake-timers in general) replace the globals, including queueMicrotask and
// process.nextTick: looked up at call time, a socket's own scheduling would then wait for the
// test to advance a fake clock, and a TLS handshake or a close after the peer's `end` would hang.

const timers = require('node:timers')

// A function faked before this module loaded (Jest's `fakeTimers.enableGlobally`) carries its
// clock, which keeps the original as `_<name>`.
function original(target, name) {
  let fn = target[name]
  while (typeof fn === 'function' && fn.clock != null && typeof fn.clock[`_${name}`] === 'function') {
    fn = fn.clock[`_${name}`]
  }
  return fn
}

const queueMicrotask = original(globalThis, 'queueMicrotask')
const nextTick = original(process, 'nextTick')

module.exports = {
  // node:timers is never faked: Jest replaces only the globals.
  setImmediate: original(timers, 'setImmediate'),
  setTimeout: original(timers, 'setTimeout'),
  clearTimeout: original(timers, 'clearTimeout'),
  queueMicrotask: (fn) => queueMicrotask(fn),
  nextTick: (fn, ...args) => nextTick.call(process, fn, ...args),
}
