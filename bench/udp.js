'use strict'
// UDP workloads for bench/worker.js.
//
// A sender socket sends `size`-byte datagrams to a receiver socket, both on 127.0.0.1 in this
// process, for `warmup` + `seconds` seconds. Pacing, the same for every implementation: `batch`
// datagrams per event-loop turn, then setImmediate (the receiver gets its turn in the loop's
// poll phase in between). Mode 'send': one send() call per datagram; 'sendMany': one sendMany()
// call per batch (node: `batch` send() calls, it has no sendMany). Backpressure: Bun's API —
// stop on a false send() / a short sendMany() and resume the rest on `drain`; node — don't
// start a batch while getSendQueueCount() > 0. Rates count the `seconds` window after the
// warm-up; loss counts the whole run, after the receiver has gone quiet.

const dgram = require('./common').lazyModule('node:dgram')
const fs = require('node:fs')
const { HOST, sleep, loadBun, deferred, pattern, now } = require('./common')

/** The kernel's UDP counters (system-wide), to tell receive-buffer overflows from other losses. */
function udpCounters() {
  try {
    const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'))
    const keys = lines[0].split(' ')
    const values = lines[1].split(' ').map(Number)
    return Object.fromEntries(keys.map((k, i) => [k, values[i]]))
  } catch {
    return {}
  }
}

/**
 * The run's clock and bookkeeping. `pump()` sends one batch and returns false when it waits for
 * `drain` (then `resume()` restarts it); otherwise the next batch follows after setImmediate.
 */
function udpRun({ seconds, warmup }, counters, pump) {
  const out = deferred()
  let phase = 'warmup' // -> 'measure' -> 'stopped'
  let s0 = 0
  let r0 = 0
  let t0 = 0
  let cpu0 = null
  let window = null
  const kernel0 = udpCounters()
  const turn = () => {
    if (phase === 'stopped') return
    if (pump() !== false) setImmediate(turn)
  }
  setTimeout(() => {
    phase = 'measure'
    s0 = counters.sent
    r0 = counters.received
    t0 = now()
    cpu0 = process.cpuUsage()
    setTimeout(async () => {
      const ms = now() - t0
      const cpu = process.cpuUsage(cpu0)
      window = { ms, sent: counters.sent - s0, received: counters.received - r0 }
      phase = 'stopped'
      // Let the datagrams in flight arrive: done once the count has not moved for 100 ms.
      let last = -1
      for (let i = 0; i < 50 && counters.received !== last; i++) {
        last = counters.received
        await sleep(100)
      }
      const lost = counters.sent - counters.received
      const kernel1 = udpCounters()
      out.resolve({
        value: (window.received / ms) * 1000,
        sentPerSec: (window.sent / ms) * 1000,
        receivedPerSec: (window.received / ms) * 1000,
        lossPct: counters.sent > 0 ? (lost / counters.sent) * 100 : NaN,
        ms,
        windowSent: window.sent,
        windowReceived: window.received,
        totalSent: counters.sent,
        totalReceived: counters.received,
        badLength: counters.badLength,
        senderWaits: counters.waits,
        // CPU time of the whole process (all threads) in the timed window, in % of one core.
        cpuPct: ((cpu.user + cpu.system) / 1000 / ms) * 100,
        // Datagrams the kernel dropped for a full receive buffer, machine-wide, during the run.
        rcvbufErrors: kernel1.RcvbufErrors - kernel0.RcvbufErrors,
      })
    }, seconds * 1000)
  }, warmup * 1000)
  return { result: out.promise, resume: () => setImmediate(turn), start: turn, stopped: () => phase === 'stopped' }
}

async function udpBun(params) {
  const { size, batch, mode } = params
  const { udpSocket } = loadBun()
  const msg = pattern(size)
  const counters = { sent: 0, received: 0, badLength: 0, waits: 0 }
  const failed = deferred()
  const receiver = await udpSocket({
    hostname: HOST,
    port: 0,
    socket: {
      data(s, data) {
        counters.received++
        if (data.length !== size) counters.badLength++
      },
      error(err) {
        failed.reject(err)
      },
    },
  })
  const port = receiver.port
  // sendMany's argument for a full batch, and what is left of it after a short send.
  const full = []
  for (let i = 0; i < batch; i++) full.push(msg, port, HOST)
  let rest = null // packets (sendMany) or datagram count (send) still to go in this batch
  let waiting = false
  let run = null
  const pump = () => {
    if (mode === 'sendMany') {
      const packets = rest ?? full
      const n = sender.sendMany(packets)
      counters.sent += n
      if (n * 3 === packets.length) {
        rest = null
        return true
      }
      rest = packets.slice(n * 3)
    } else {
      let left = rest ?? batch
      while (left > 0 && sender.send(msg, port, HOST)) {
        counters.sent++
        left--
      }
      if (left === 0) {
        rest = null
        return true
      }
      rest = left
    }
    counters.waits++
    waiting = true
    return false // `drain` resumes
  }
  const sender = await udpSocket({
    hostname: HOST,
    port: 0,
    socket: {
      data() {},
      drain() {
        // Also fires once right after creation; resume only a sender that is waiting.
        if (waiting && !run.stopped()) {
          waiting = false
          run.resume()
        }
      },
      error(err) {
        failed.reject(err)
      },
    },
  })
  run = udpRun(params, counters, pump)
  run.start()
  const result = await Promise.race([run.result, failed.promise])
  sender.close()
  receiver.close()
  return result
}

async function udpNode(params) {
  const { size, batch } = params
  const msg = pattern(size)
  const counters = { sent: 0, received: 0, badLength: 0, waits: 0 }
  const failed = deferred()
  const bind = (sock) => {
    const ready = deferred()
    sock.once('error', ready.reject)
    sock.bind(0, HOST, () => {
      sock.removeListener('error', ready.reject)
      sock.on('error', (err) => failed.reject(err))
      ready.resolve()
    })
    return ready.promise
  }
  const receiver = dgram.createSocket('udp4')
  receiver.on('message', (data) => {
    counters.received++
    if (data.length !== size) counters.badLength++
  })
  await bind(receiver)
  const port = receiver.address().port
  const sender = dgram.createSocket('udp4')
  await bind(sender)
  const pump = () => {
    // libuv queues what the kernel did not take at once; wait for that queue to empty.
    if (sender.getSendQueueCount() > 0) {
      counters.waits++
      return true // try again next turn
    }
    for (let i = 0; i < batch; i++) sender.send(msg, port, HOST)
    counters.sent += batch
    return true
  }
  const run = udpRun(params, counters, pump)
  run.start()
  const result = await Promise.race([run.result, failed.promise])
  sender.close()
  receiver.close()
  return result
}

module.exports = { udp: { bun: udpBun, node: udpNode } }
