'use strict'
// One measurement in a fresh process:
//   node bench/worker.js <workload> <bun-sockets|node> '<params json>'
//   bun bench/worker.js <workload> bun '<params json>'
// Server and client both live in this process and both use the implementation under test:
// bun-sockets and Bun run the same code against Bun's API (see loadBun), node runs node:net.
// The result goes to the parent over IPC (or to stdout as JSON when run by hand).

const { lazyModule } = require('./common')
const net = lazyModule('node:net')
const { HOST, MiB, sleep, loadBun, deferred, pattern, now, spin } = require('./common')
const { sendBun, flushBun, bunPump, nodePump, rssPeak, threadTimes, connLoop } = require('./common')

// ---------------------------------------------------------------------------------------------
// Helpers: a server/client pair per implementation.

function nodeListen(onConnection) {
  const server = net.createServer(onConnection)
  const ready = deferred()
  server.on('error', ready.reject)
  server.listen(0, HOST, () => ready.resolve(server))
  return ready.promise
}

function nodeConnect(port) {
  const ready = deferred()
  const s = net.connect({ host: HOST, port })
  s.once('connect', () => ready.resolve(s))
  s.once('error', ready.reject)
  return ready.promise
}

/** The state sendBun/flushBun keep per Bun-API socket. */
const bunState = () => ({ q: [], rx: 0 })

/** A Bun-API echo server honouring short writes: pauses reading while output is queued. */
function bunEchoServer(bun) {
  return bun.listen({
    hostname: HOST,
    port: 0,
    socket: {
      open(s) {
        s.data = bunState()
      },
      data(s, chunk) {
        if (!sendBun(s, chunk)) s.pause()
      },
      drain(s) {
        if (flushBun(s)) s.resume()
      },
      error() {},
    },
  })
}

// ---------------------------------------------------------------------------------------------
// 1 and 2. Bulk transfer: the client sends `bytes` in `chunk`-byte writes, honouring
// backpressure. One-way: a server counts the bytes. Echo: the server sends everything back and
// the client counts what returns. The clock runs from the first write to the last byte counted.
// `spinMs` makes the counting side a slow consumer: it spends that long on every chunk. Peak RSS
// is reported for every run.

async function bulkBun({ bytes, chunk, echo, spinMs = 0 }) {
  const bun = loadBun()
  const done = deferred()
  let received = 0
  let chunks = 0
  const count = (buf) => {
    received += buf.length
    chunks++
    if (spinMs > 0) spin(spinMs)
    if (received >= bytes) done.resolve()
  }
  const server = echo
    ? bunEchoServer(bun)
    : bun.listen({
        hostname: HOST,
        port: 0,
        socket: {
          data(s, buf) {
            count(buf)
          },
          error() {},
        },
      })
  const { pump, stats } = bunPump(bytes, chunk, done.reject)
  const client = await bun.connect({
    hostname: HOST,
    port: server.port,
    socket: {
      data(s, buf) {
        count(buf)
      },
      drain: pump,
      close(s, err) {
        if (received < bytes) done.reject(err ?? new Error('client closed early'))
      },
      error(s, err) {
        done.reject(err)
      },
    },
  })
  const peak = rssPeak()
  const t0 = now()
  pump(client)
  await done.promise
  const ms = now() - t0
  client.end()
  server.stop(true)
  if (received !== bytes) throw new Error(`received ${received} bytes, expected ${bytes}`)
  return { value: bytes / MiB / (ms / 1000), ms, ...peak(), chunks, meanChunkKiB: bytes / chunks / 1024, ...stats }
}

async function bulkNode({ bytes, chunk, echo, spinMs = 0 }) {
  const done = deferred()
  let received = 0
  let chunks = 0
  const count = (buf) => {
    received += buf.length
    chunks++
    if (spinMs > 0) spin(spinMs)
    if (received >= bytes) done.resolve()
  }
  const server = await nodeListen((s) => {
    s.on('error', () => {})
    if (echo) s.pipe(s)
    else s.on('data', count)
  })
  const client = await nodeConnect(server.address().port)
  client.on('error', (err) => done.reject(err))
  if (echo) client.on('data', count)
  const { pump, stats } = nodePump(client, bytes, chunk)
  const peak = rssPeak()
  const t0 = now()
  pump()
  await done.promise
  const ms = now() - t0
  client.destroy()
  server.close()
  if (received !== bytes) throw new Error(`received ${received} bytes, expected ${bytes}`)
  return { value: bytes / MiB / (ms / 1000), ms, ...peak(), chunks, meanChunkKiB: bytes / chunks / 1024, ...stats }
}

// ---------------------------------------------------------------------------------------------
// 3. Ping-pong: `conns` connections, each with one `size`-byte message in flight; the server
// echoes, the client sends the next message once the whole previous one is back. Counted over
// `seconds` after `warmup` seconds.

function pingpongClock({ seconds, warmup }, count) {
  // Returns a promise of { value, ms } and a `running()` predicate for the senders.
  const out = deferred()
  let stopped = false
  let c0 = 0
  let t0 = 0
  setTimeout(() => {
    c0 = count()
    t0 = now()
    setTimeout(() => {
      stopped = true
      const ms = now() - t0
      const n = count() - c0
      out.resolve({ value: n / (ms / 1000), ms, roundTrips: n })
    }, seconds * 1000)
  }, warmup * 1000)
  return { result: out.promise, running: () => !stopped }
}

async function pingpongBun(params) {
  const { conns, size } = params
  const bun = loadBun()
  const msg = pattern(size)
  const server = bunEchoServer(bun)
  let count = 0
  const failed = deferred()
  const clock = pingpongClock(params, () => count)
  const handlers = {
    open(s) {
      s.data = bunState()
      s.setNoDelay(true)
    },
    data(s, buf) {
      const st = s.data
      st.rx += buf.length
      if (st.rx >= size) {
        st.rx -= size
        count++
        if (clock.running()) sendBun(s, msg)
      }
    },
    drain: flushBun,
    close(s, err) {
      if (clock.running()) failed.reject(err ?? new Error('client closed during the run'))
    },
    error(s, err) {
      failed.reject(err)
    },
  }
  const clients = await Promise.all(
    Array.from({ length: conns }, () => bun.connect({ hostname: HOST, port: server.port, socket: handlers })),
  )
  for (const s of clients) sendBun(s, msg)
  const result = await Promise.race([clock.result, failed.promise])
  for (const s of clients) s.end()
  server.stop(true)
  return result
}

async function pingpongNode(params) {
  const { conns, size } = params
  const msg = pattern(size)
  const server = await nodeListen((s) => {
    s.setNoDelay(true)
    s.on('error', () => {})
    s.pipe(s)
  })
  const port = server.address().port
  let count = 0
  const failed = deferred()
  const clock = pingpongClock(params, () => count)
  const clients = await Promise.all(Array.from({ length: conns }, () => nodeConnect(port)))
  for (const s of clients) {
    s.setNoDelay(true)
    let rx = 0
    s.on('data', (buf) => {
      rx += buf.length
      if (rx >= size) {
        rx -= size
        count++
        if (clock.running()) s.write(msg)
      }
    })
    s.on('error', (err) => failed.reject(err))
    s.on('close', () => {
      if (clock.running()) failed.reject(new Error('client closed during the run'))
    })
    s.write(msg)
  }
  const result = await Promise.race([clock.result, failed.promise])
  for (const s of clients) s.destroy()
  server.close()
  return result
}

// ---------------------------------------------------------------------------------------------
// 4. Connection rate: up to `inflight` connections at a time. A cycle is: connect, the server
// accepts, the client closes as soon as it is connected, and the server's socket closes (the
// slot is then reused). Bun's socket.end() closes at once (FIN, fd closed), so the node client
// uses destroy(), which does the same on the wire. Counted over `seconds` after `warmup`.


async function connrateBun(params) {
  const bun = loadBun()
  // Each accepted socket frees one slot when it closes.
  const waiting = []
  const server = bun.listen({
    hostname: HOST,
    port: 0,
    socket: {
      data() {},
      close() {
        waiting.shift()?.()
      },
      error() {},
    },
  })
  const clientHandlers = {
    open(s) {
      s.end()
    },
    data() {},
    error() {},
  }
  const result = await connLoop(params, (free) => {
    waiting.push(free)
    bun.connect({ hostname: HOST, port: server.port, socket: clientHandlers }).catch((err) => {
      waiting.pop()
      free(err)
    })
  })
  server.stop(true)
  return result
}

async function connrateNode(params) {
  const waiting = []
  const server = await nodeListen((s) => {
    s.on('data', () => {})
    s.on('error', () => {})
    s.on('close', () => waiting.shift()?.())
  })
  const port = server.address().port
  const result = await connLoop(params, (free) => {
    waiting.push(free)
    const s = net.connect({ host: HOST, port })
    s.once('connect', () => s.destroy())
    s.once('error', (err) => {
      waiting.pop()
      free(err)
    })
  })
  server.close()
  return result
}

// ---------------------------------------------------------------------------------------------
// 5. Idle CPU: `conns` connections, both ends in this process, each carry `rounds` round trips of
// `size` bytes; when the last reply is in, traffic has stopped. Then the CPU time of the whole
// process (user + system, all threads) is taken over the first `firstMs` ms (are the threads
// asleep yet?) and over `seconds` after `settle` seconds, in % of one core.

const OPEN_BATCH = 100 // connects in flight while opening, well under the default backlog

async function idleCpuBun(params) {
  const { conns, size } = params
  const bun = loadBun()
  const msg = pattern(size)
  const server = bunEchoServer(bun)
  const failed = deferred()
  const handlers = {
    open(s) {
      s.data = bunState()
      s.setNoDelay(true)
    },
    data(s, buf) {
      const st = s.data
      st.rx += buf.length
      for (; st.rx >= size; st.rx -= size) run.replied(st.i)
    },
    drain: flushBun,
    error(s, err) {
      failed.reject(err)
    },
  }
  const clients = []
  while (clients.length < conns) {
    const n = Math.min(OPEN_BATCH, conns - clients.length)
    const batch = Array.from({ length: n }, () => bun.connect({ hostname: HOST, port: server.port, socket: handlers }))
    clients.push(...(await Promise.all(batch)))
  }
  clients.forEach((s, i) => (s.data.i = i))
  const run = idleTraffic(params, (i) => sendBun(clients[i], msg))
  const result = await Promise.race([run.result, failed.promise])
  for (const s of clients) s.end()
  server.stop(true)
  return result
}

async function idleCpuNode(params) {
  const { conns, size } = params
  const msg = pattern(size)
  const server = await nodeListen((s) => {
    s.setNoDelay(true)
    s.on('error', () => {})
    s.pipe(s)
  })
  const port = server.address().port
  const failed = deferred()
  const clients = []
  while (clients.length < conns) {
    const n = Math.min(OPEN_BATCH, conns - clients.length)
    clients.push(...(await Promise.all(Array.from({ length: n }, () => nodeConnect(port)))))
  }
  const run = idleTraffic(params, (i) => clients[i].write(msg))
  clients.forEach((s, i) => {
    s.setNoDelay(true)
    let rx = 0
    s.on('data', (buf) => {
      for (rx += buf.length; rx >= size; rx -= size) run.replied(i)
    })
    s.on('error', (err) => failed.reject(err))
  })
  const result = await Promise.race([run.result, failed.promise])
  for (const s of clients) s.destroy()
  server.close()
  return result
}

/** Starts the traffic at once; `replied(i)` sends connection i's next message or counts it done. */
function idleTraffic({ conns, rounds, settle, seconds, firstMs }, send) {
  const left = new Array(conns).fill(rounds)
  let active = conns
  const out = deferred()
  const run = {
    result: out.promise,
    replied(i) {
      if (--left[i] > 0) return void send(i)
      if (--active === 0) measureIdle({ settle, seconds, firstMs }).then(out.resolve, out.reject)
    },
  }
  // Deferred so that `run` exists before the first reply can arrive.
  setImmediate(() => {
    for (let i = 0; i < conns; i++) send(i)
  })
  return run
}

/** Runs from the handler that saw the last reply, before control returns to the event loop. */
async function measureIdle({ settle, seconds, firstMs }) {
  const pct = (cpu, ms) => ((cpu.user + cpu.system) / 1000 / ms) * 100
  // Thread times are read outside the windows: reading /proc costs the JS thread ~0.1 ms.
  const thA = threadTimes()
  const t0 = now()
  const cpu0 = process.cpuUsage()
  await sleep(firstMs)
  const firstCpu = process.cpuUsage(cpu0)
  const t1 = now()
  const thB = threadTimes()
  await sleep(settle * 1000 - (t1 - t0))
  const thC = threadTimes()
  const cpu1 = process.cpuUsage()
  const t2 = now()
  await sleep(seconds * 1000)
  const cpu = process.cpuUsage(cpu1)
  const t3 = now()
  const thD = threadTimes()
  return {
    value: pct(cpu, t3 - t2),
    firstPct: pct(firstCpu, t1 - t0),
    firstMs: t1 - t0,
    ms: t3 - t2,
    // Without the JS thread: its share between snapshots is mostly its own /proc reading.
    firstThreads: threadsBusy(thA, thB, t1 - t0),
    threads: threadsBusy(thC, thD, t3 - t2),
  }
}

/** The threads besides the JS one that ran between two snapshots, busiest first, in % of a core. */
function threadsBusy(before, after, ms) {
  if (before === null || after === null) return ''
  const busy = []
  for (const [tid, { comm, ns }] of after) {
    if (Number(tid) === process.pid) continue
    const used = ns - (before.get(tid)?.ns ?? 0)
    if (used > 0) busy.push({ comm, pct: (used / 1e6 / ms) * 100 })
  }
  busy.sort((a, b) => b.pct - a.pct)
  return busy.map((t) => `${t.comm} ${t.pct.toFixed(t.pct < 1 ? 3 : 1)} %`).join(', ')
}

// ---------------------------------------------------------------------------------------------

const WORKLOADS = {
  bulk: { bun: bulkBun, node: bulkNode },
  pingpong: { bun: pingpongBun, node: pingpongNode },
  connrate: { bun: connrateBun, node: connrateNode },
  idlecpu: { bun: idleCpuBun, node: idleCpuNode },
  ...require('./udp'),
  ...require('./tls'),
}

async function main() {
  const [workload, impl, json] = process.argv.slice(2)
  // bun-sockets and Bun share the Bun-API code; the runtime decides which one it meets.
  const fn = WORKLOADS[workload]?.[impl === 'node' ? 'node' : 'bun']
  if (fn === undefined || !['bun-sockets', 'node', 'bun'].includes(impl)) {
    throw new Error(`usage: worker.js <${Object.keys(WORKLOADS).join('|')}> <bun-sockets|node|bun> [params]`)
  }
  if ((impl === 'bun') !== (process.versions.bun !== undefined)) {
    throw new Error(`${impl} must run under ${impl === 'bun' ? 'bun' : 'node'}`)
  }
  const result = await fn(JSON.parse(json ?? '{}'))
  if (process.send) process.send({ result }, () => process.exit(0))
  else {
    console.log(JSON.stringify(result))
    process.exit(0)
  }
}

main().catch((err) => {
  const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  if (process.send) process.send({ error }, () => process.exit(1))
  else {
    console.error(error)
    process.exit(1)
  }
})
