'use strict'
// One side of the idle-connection memory test, driven by the parent over IPC:
//   node --expose-gc bench/idle.js <bun-sockets|node> <server|clients|both>
//   bun bench/idle.js bun <server|clients|both>
// The process being measured plays one role with the implementation under test; its peer is a
// plain node:net process playing the other. With `both`, the measured process is its own peer
// (2 sockets per connection).
//
// Commands (each answered with { id, ... }):
//   { cmd: 'listen' }             server: listen on 127.0.0.1:0 -> { port }
//   { cmd: 'open', port, n }      clients: open n more connections -> { count }
//   { cmd: 'closeAll' }           clients: close every connection -> { count }
//   { cmd: 'waitCount', n }       wait until this process holds exactly n live sockets
//   { cmd: 'measure' }            gc (if exposed), settle, -> process.memoryUsage()
//   { cmd: 'exit' }

const net = require('./common').lazyModule('node:net')
const { HOST, sleep, loadBun, deferred } = require('./common')

const [impl, role] = process.argv.slice(2)
const CONCURRENCY = 200 // connects in flight while opening

let live = 0 // connections this process holds open
const clients = [] // client sockets, for closeAll
let server = null
let countWaiter = null

function changed(delta) {
  live += delta
  if (countWaiter !== null && live === countWaiter.n) {
    const w = countWaiter
    countWaiter = null
    w.resolve()
  }
}

// --- Bun's API: bun-sockets or Bun ------------------------------------------------------------

const usesBunApi = impl !== 'node'

function bunListen() {
  const bun = loadBun()
  server = bun.listen({
    hostname: HOST,
    port: 0,
    socket: {
      open() {
        changed(+1)
      },
      data() {},
      close() {
        changed(-1)
      },
      error() {},
    },
  })
  return server.port
}

const bunClientHandlers = {
  data() {},
  close(s) {
    if (s.data === 1) changed(-1)
  },
  error() {},
}

async function bunOpenOne(port) {
  const bun = loadBun()
  const s = await bun.connect({ hostname: HOST, port, socket: bunClientHandlers, data: 0 })
  s.data = 1
  clients.push(s)
  changed(+1)
}

// --- node:net ----------------------------------------------------------------------------------

function nodeListen() {
  server = net.createServer({ backlog: 4096 }, (s) => {
    changed(+1)
    s.on('data', () => {})
    s.on('error', () => {})
    s.on('close', () => changed(-1))
  })
  const ready = deferred()
  server.on('error', ready.reject)
  server.listen({ port: 0, host: HOST, backlog: 4096 }, () => ready.resolve(server.address().port))
  return ready.promise
}

function nodeOpenOne(port) {
  const ready = deferred()
  const s = net.connect({ host: HOST, port })
  s.on('data', () => {})
  s.once('error', ready.reject)
  s.once('connect', () => {
    s.removeListener('error', ready.reject)
    s.on('error', () => {})
    s.once('close', () => changed(-1))
    clients.push(s)
    changed(+1)
    ready.resolve()
  })
  return ready.promise
}

// --- commands ----------------------------------------------------------------------------------

async function open(port, n) {
  const openOne = usesBunApi ? bunOpenOne : nodeOpenOne
  let next = 0
  const worker = async () => {
    while (next < n) {
      next++
      await openOne(port)
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, worker))
  return { count: live }
}

function closeAll() {
  for (const s of clients.splice(0)) {
    if (usesBunApi) s.end()
    else s.destroy()
  }
  return { count: live }
}

function waitCount(n) {
  if (live === n) return Promise.resolve()
  countWaiter = deferred()
  countWaiter.n = n
  return countWaiter.promise
}

// Node exposes gc() with --expose-gc; Bun has Bun.gc(true) (synchronous, full).
const gc = globalThis.gc ?? (globalThis.Bun ? () => globalThis.Bun.gc(true) : undefined)

async function measure() {
  for (let i = 0; i < 5; i++) {
    gc?.()
    await sleep(40)
  }
  await sleep(200)
  return { ...process.memoryUsage(), live, gc: gc !== undefined }
}

const COMMANDS = {
  listen: async () => ({ port: usesBunApi ? bunListen() : await nodeListen() }),
  open: ({ port, n }) => open(port, n),
  closeAll,
  waitCount: async ({ n }) => {
    await waitCount(n)
    return { count: live }
  },
  measure,
  exit: () => process.exit(0),
}

if (!['bun-sockets', 'node', 'bun'].includes(impl) || !['server', 'clients', 'both'].includes(role)) {
  console.error('usage: idle.js <bun-sockets|node|bun> <server|clients|both>  (run by bench/index.js)')
  process.exit(2)
}
if ((impl === 'bun') !== (process.versions.bun !== undefined)) {
  console.error(`idle.js: ${impl} must run under ${impl === 'bun' ? 'bun' : 'node'}`)
  process.exit(2)
}
process.on('message', async (msg) => {
  try {
    const out = await COMMANDS[msg.cmd](msg)
    process.send({ id: msg.id, ...out })
  } catch (err) {
    process.send({ id: msg.id, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) })
  }
})
process.send({ ready: true })
