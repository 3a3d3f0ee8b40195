'use strict'
// Benchmark: bun-sockets against Node's own `net`, in one run.
//
//   node bench/index.js                      every workload, 3 rounds each
//   node bench/index.js --quick              smaller sizes, 1 round (smoke run)
//   node bench/index.js throughput echo      only the named workloads
//   node bench/index.js udp                  a group: udp-send and udp-sendmany
//   node bench/index.js tls                  a group: tls-throughput and tls-handshakes
//   node bench/index.js --rounds 5           more rounds
//
// Workloads: throughput, echo, pingpong, connrate, idle (TCP, against node:net), tls-throughput,
// tls-handshakes (TLS, against node:tls), udp-send, udp-sendmany (UDP, against node:dgram); see
// --help. Every measurement runs in a fresh child process (bench/worker.js, bench/idle.js) that
// is killed after a time limit; the implementations alternate round by round and the table
// shows each one's median. Everything runs on 127.0.0.1. Progress goes to stderr, the Markdown table to stdout.

const { spawn, execSync } = require('node:child_process')
const os = require('node:os')
const path = require('node:path')

const IMPLS = ['bun', 'node']
const NAMES = { bun: 'bun-sockets', node: 'node:net' }
const UDP_NAMES = { bun: 'bun-sockets', node: 'node:dgram' }
const TLS_NAMES = { bun: 'bun-sockets', node: 'node:tls' }
const MiB = 1024 * 1024

// --- options -----------------------------------------------------------------------------------

function usage() {
  const groups = [...new Set(WORKLOADS.map((w) => w.group).filter(Boolean))]
  return `usage: node bench/index.js [--quick] [--rounds N] [workload ...]
workloads: ${WORKLOADS.map((w) => w.name + (w.aliases.length ? ` (${w.aliases.join(', ')})` : '')).join(', ')}
groups: ${groups.map((g) => `${g} (${WORKLOADS.filter((w) => w.group === g).map((w) => w.name).join(', ')})`).join(', ')}`
}

function parseArgs(argv) {
  const opts = { quick: false, rounds: undefined, names: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick' || a === '-q') opts.quick = true
    else if (a === '--rounds' || a === '-r') opts.rounds = Number(argv[++i])
    else if (a.startsWith('--rounds=')) opts.rounds = Number(a.slice('--rounds='.length))
    else if (a === '--help' || a === '-h') {
      console.log(usage())
      process.exit(0)
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${usage()}`)
    else opts.names.push(a.toLowerCase())
  }
  if (opts.rounds !== undefined && !(Number.isInteger(opts.rounds) && opts.rounds > 0)) {
    throw new Error('--rounds takes a positive integer')
  }
  opts.rounds ??= opts.quick ? 1 : 3
  return opts
}

// --- workloads ---------------------------------------------------------------------------------

const HIGHER = { better: 'higher', target: '≥ node' }

/** Rows of the table, grouped by the names one can select. Sizes: [full, quick]. */
const WORKLOADS = [
  {
    name: 'throughput',
    aliases: ['oneway'],
    rows: (q) => {
      const bytes = q ? 128 * MiB : 1024 * MiB
      return [
        {
          label: `One-way throughput, ${size(bytes)} in 64 KiB writes`,
          unit: 'MiB/s',
          ...HIGHER,
          worker: 'bulk',
          params: { bytes, chunk: 64 * 1024, echo: false },
          timeout: 120_000,
        },
      ]
    },
  },
  {
    name: 'echo',
    aliases: [],
    rows: (q) => {
      const bytes = q ? 32 * MiB : 256 * MiB
      return [
        {
          label: `Echo throughput, ${size(bytes)} in 64 KiB writes`,
          unit: 'MiB/s',
          ...HIGHER,
          worker: 'bulk',
          params: { bytes, chunk: 64 * 1024, echo: true },
          timeout: 120_000,
        },
      ]
    },
  },
  {
    name: 'pingpong',
    aliases: ['rtt', 'roundtrip'],
    rows: (q) => {
      const seconds = q ? 0.5 : 2
      const warmup = q ? 0.1 : 0.5
      return [1, 32].map((conns) => ({
        label: `Ping-pong, 64 B messages, ${conns} connection${conns > 1 ? 's' : ''} (${seconds} s)`,
        unit: 'round trips/s',
        ...HIGHER,
        worker: 'pingpong',
        params: { conns, size: 64, seconds, warmup },
        timeout: (seconds + warmup) * 1000 + 20_000,
      }))
    },
  },
  {
    name: 'connrate',
    aliases: ['conns', 'connections'],
    rows: (q) => {
      const seconds = q ? 0.5 : 2
      const warmup = q ? 0.1 : 0.5
      return [1, 32].map((inflight) => ({
        label: `Connections/s, ${inflight === 1 ? 'sequential' : `${inflight} in flight`} (${seconds} s)`,
        unit: 'conns/s',
        ...HIGHER,
        worker: 'connrate',
        params: { inflight, seconds, warmup },
        timeout: (seconds + warmup) * 1000 + 20_000,
      }))
    },
  },
  {
    name: 'idle',
    aliases: ['memory', 'rss'],
    rows: (q) => {
      const n = q ? 2000 : 10000
      const warm = q ? 50 : 100
      return [
        {
          label: `RSS per idle connection, ${n.toLocaleString('en-US')} conns, server side`,
          unit: 'KiB',
          better: 'lower',
          target: '≤ 4 KiB',
          limit: 4,
          idle: { side: 'server', n, warm },
          timeout: 180_000,
        },
        {
          label: `RSS per idle connection, ${n.toLocaleString('en-US')} conns, client side`,
          unit: 'KiB',
          better: 'lower',
          target: '≤ 4 KiB',
          limit: 4,
          idle: { side: 'clients', n, warm },
          timeout: 180_000,
        },
        {
          // Half the connections, so the process holds as many sockets as in the rows above.
          label: `RSS per idle connection, ${(n / 2).toLocaleString('en-US')} conns, both ends in one process (2 sockets each)`,
          unit: 'KiB',
          better: 'lower',
          target: '≤ 4 KiB (spec: node ≈ 7, Bun ≈ 2)',
          limit: 4,
          idle: { side: 'both', n: n / 2, warm },
          timeout: 180_000,
        },
      ]
    },
  },
  {
    name: 'tls-throughput',
    aliases: ['tlsbulk'],
    group: 'tls',
    rows: (q) => {
      const bytes = q ? 64 * MiB : 256 * MiB
      return [
        {
          label: `TLS one-way throughput, ${size(bytes)} in 64 KiB writes`,
          unit: 'MiB/s',
          ...HIGHER,
          tls: true,
          worker: 'tlsbulk',
          params: { bytes, chunk: 64 * 1024 },
          timeout: 120_000,
        },
      ]
    },
  },
  {
    name: 'tls-handshakes',
    aliases: ['handshakes'],
    group: 'tls',
    rows: (q) => {
      const seconds = q ? 0.5 : 2
      const warmup = q ? 0.1 : 0.5
      return [1, 16].map((inflight) => ({
        label: `TLS full handshakes/s, ${inflight === 1 ? 'sequential' : `${inflight} in flight`} (${seconds} s)`,
        unit: 'handshakes/s',
        better: 'higher',
        target: '≥ 3× node',
        minRatio: 3,
        tls: true,
        worker: 'handshakes',
        params: { inflight, seconds, warmup },
        timeout: (seconds + warmup) * 1000 + 20_000,
      }))
    },
  },
  ...['send', 'sendMany'].map((mode) => ({
    name: `udp-${mode.toLowerCase()}`,
    aliases: mode === 'send' ? [] : ['udp-many'],
    group: 'udp',
    rows: (q) => {
      const seconds = q ? 1 : 5
      const warmup = q ? 0.2 : 0.5
      const how = mode === 'send' ? '64 × send()' : 'one sendMany() of 64'
      const label = `UDP, 64 B datagrams, ${how} per loop turn (${seconds} s)`
      return [
        {
          label,
          udp: true,
          unit: 'datagrams received/s',
          worker: 'udp',
          params: { mode, size: 64, batch: 64, seconds, warmup },
          timeout: (seconds + warmup) * 1000 + 30_000,
          // One measurement, three lines of the table; the first names the row.
          lines: [
            { key: 'sentPerSec', label: `${label}: sent`, unit: 'datagrams/s', better: 'higher', target: '—' },
            {
              key: 'receivedPerSec',
              label: `${label}: received`,
              unit: 'datagrams/s',
              better: 'higher',
              ...(mode === 'sendMany' ? { target: '≥ 2× node', minRatio: 2 } : { target: '≥ node' }),
            },
            { key: 'lossPct', label: `${label}: loss`, unit: '%', better: 'lower', target: '0 % (no loss)', limit: 0, noRatio: true },
          ],
        },
      ]
    },
  })),
]

function selectWorkloads(names) {
  if (names.length === 0) return WORKLOADS
  return [
    ...new Set(
      names.flatMap((name) => {
        const group = WORKLOADS.filter((x) => x.group === name)
        if (group.length > 0) return group
        const w = WORKLOADS.find((x) => x.name === name || x.aliases.includes(name))
        if (w === undefined) throw new Error(`unknown workload "${name}"\n${usage()}`)
        return [w]
      }),
    ),
  ]
}

// --- child processes ---------------------------------------------------------------------------

// The fd limit is inherited; raise it (as far as the hard limit allows) for the idle test.
const SHELL = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"'

const children = new Set()

/** Starts `node [flags] bench/<script> args` with an IPC channel; killed after `timeout` ms. */
function startChild(script, args, { flags = [], timeout }) {
  const proc = spawn('bash', ['-c', SHELL, process.execPath, ...flags, path.join(__dirname, script), ...args], {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    cwd: __dirname,
  })
  children.add(proc)
  let stderr = ''
  proc.stderr.on('data', (b) => {
    stderr = (stderr + b).slice(-4000)
  })
  let nextId = 1
  const pending = new Map()
  const listeners = []
  let failure = null
  const fail = (err) => {
    if (failure !== null) return
    failure = err
    for (const p of pending.values()) p.reject(err)
    pending.clear()
    for (const l of listeners.splice(0)) l.reject(err)
  }
  const timer = setTimeout(() => {
    fail(new Error(`timeout after ${timeout / 1000} s`))
    proc.kill('SIGKILL')
  }, timeout)
  proc.on('message', (msg) => {
    if (msg.id !== undefined && pending.has(msg.id)) {
      const p = pending.get(msg.id)
      pending.delete(msg.id)
      if (msg.error !== undefined) p.reject(new Error(msg.error))
      else p.resolve(msg)
    } else {
      for (const l of listeners.splice(0)) l.resolve(msg)
    }
  })
  proc.on('exit', (code, signal) => {
    clearTimeout(timer)
    children.delete(proc)
    const tail = stderr.trim().split('\n').slice(-3).join(' | ')
    fail(new Error(`child exited (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ''}`))
  })
  return {
    /** The next unsolicited message. */
    next() {
      if (failure !== null) return Promise.reject(failure)
      return new Promise((resolve, reject) => listeners.push({ resolve, reject }))
    },
    request(msg) {
      if (failure !== null) return Promise.reject(failure)
      const id = nextId++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        proc.send({ ...msg, id })
      })
    },
    kill() {
      clearTimeout(timer)
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    },
  }
}

async function runWorker(row, impl) {
  const child = startChild('worker.js', [row.worker, impl, JSON.stringify(row.params)], { timeout: row.timeout })
  try {
    const msg = await child.next()
    if (msg.error !== undefined) throw new Error(msg.error)
    return msg.result
  } finally {
    // The worker exits by itself once its answer is sent; this only catches stragglers.
    setTimeout(() => child.kill(), 2000).unref()
  }
}

/**
 * Idle connections: the measured process holds `n` sockets of one side (server or clients)
 * using `impl`; a plain node:net process holds the other ends. RSS is taken after a warm-up
 * of `warm` connections (opened, then closed) and again with `n` connections open.
 */
async function runIdle(row, impl) {
  const { side, n, warm } = row.idle
  const opts = { flags: ['--expose-gc'], timeout: row.timeout }
  const measured = startChild('idle.js', [impl, side], opts)
  // With both ends in the measured process there is no peer and each connection is 2 sockets.
  const peer = side === 'both' ? null : startChild('idle.js', ['node', side === 'server' ? 'clients' : 'server'], opts)
  try {
    await Promise.all([measured.next(), peer?.next()])
    const srv = side === 'clients' ? peer : measured
    const cli = side === 'server' ? peer : measured
    const waitBoth = (k) =>
      side === 'both'
        ? measured.request({ cmd: 'waitCount', n: 2 * k })
        : Promise.all([cli.request({ cmd: 'waitCount', n: k }), srv.request({ cmd: 'waitCount', n: k })])
    const { port } = await srv.request({ cmd: 'listen' })
    await cli.request({ cmd: 'open', port, n: warm })
    await waitBoth(warm)
    await cli.request({ cmd: 'closeAll' })
    await waitBoth(0)
    const before = await measured.request({ cmd: 'measure' })
    await cli.request({ cmd: 'open', port, n })
    await waitBoth(n)
    const after = await measured.request({ cmd: 'measure' })
    const per = (key) => (after[key] - before[key]) / 1024 / n
    return {
      value: per('rss'),
      heapKiB: per('heapUsed'),
      externalKiB: per('external'),
      rssBeforeMiB: before.rss / MiB,
      rssAfterMiB: after.rss / MiB,
      gc: after.gc,
    }
  } finally {
    measured.kill()
    peer?.kill()
  }
}

// --- statistics and formatting -----------------------------------------------------------------

function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

function size(bytes) {
  return bytes >= 1024 * MiB ? `${bytes / 1024 / MiB} GiB` : `${bytes / MiB} MiB`
}

function fmt(value, unit) {
  if (!Number.isFinite(value)) return 'n/a'
  if (unit === 'KiB' || unit === '%') return value.toFixed(2)
  return Math.round(value).toLocaleString('en-US')
}

function verdict(row, bun, node) {
  if (!Number.isFinite(bun)) return 'failed'
  if (row.target === '—') return '—'
  if (row.better === 'lower') {
    if (row.limit === undefined) return '—'
    return bun <= row.limit ? 'yes' : 'no'
  }
  if (!Number.isFinite(node)) return 'n/a'
  return bun >= (row.minRatio ?? 1) * node ? 'yes' : 'no'
}

/** The table lines a row makes: one, or several read from the same measurements. */
function linesOf(row) {
  return row.lines ?? [{ key: 'value', label: row.label, unit: row.unit, better: row.better, target: row.target, limit: row.limit, minRatio: row.minRatio }]
}

function gitCommit() {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: __dirname, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim()
  } catch {
    return 'unknown'
  }
}

function fdLimit() {
  try {
    return execSync(`bash -c '${SHELL.replace(/; exec.*/, '')}; ulimit -n'`, { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim()
  } catch {
    return '?'
  }
}

const namesOf = (row) => (row.udp ? UDP_NAMES : row.tls ? TLS_NAMES : NAMES)

function readProc(file) {
  try {
    return require('node:fs').readFileSync(file, 'utf8').trim()
  } catch {
    return '?'
  }
}

// --- main --------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const workloads = selectWorkloads(opts.names)
  const rows = workloads.flatMap((w) => w.rows(opts.quick))
  const log = (s) => process.stderr.write(`${s}\n`)
  const started = Date.now()
  log(`bench: ${rows.length} rows × ${opts.rounds} round(s) × 2 implementations${opts.quick ? ' (quick)' : ''}`)

  for (const row of rows) {
    row.results = { bun: [], node: [] }
    row.errors = { bun: [], node: [] }
    for (let round = 0; round < opts.rounds; round++) {
      // Alternate which implementation goes first, so drift hits both alike.
      const order = round % 2 === 0 ? IMPLS : [...IMPLS].reverse()
      for (const impl of order) {
        try {
          const r = row.idle ? await runIdle(row, impl) : await runWorker(row, impl)
          row.results[impl].push(r)
          const shown = row.lines
            ? row.lines.map((l) => `${l.key === 'lossPct' ? 'loss ' : ''}${fmt(r[l.key], l.unit)} ${l.key === 'lossPct' ? '%' : l.key.replace('PerSec', '/s')}`).join(', ')
            : `${fmt(r.value, row.unit)} ${row.unit}`
          log(`  ${row.label} [round ${round + 1}] ${namesOf(row)[impl]}: ${shown}`)
        } catch (err) {
          row.errors[impl].push(err.message)
          log(`  ${row.label} [round ${round + 1}] ${namesOf(row)[impl]}: FAILED ${err.message}`)
        }
      }
    }
  }

  // --- report ---
  const out = []
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const hasTcp = rows.some((r) => !r.udp && !r.tls)
  const hasUdp = rows.some((r) => r.udp)
  const hasTls = rows.some((r) => r.tls)
  const nodeName = [hasTcp && 'node:net', hasTls && 'node:tls', hasUdp && 'node:dgram'].filter(Boolean).join(' / ')
  out.push(`### bun-sockets vs ${nodeName}`)
  out.push('')
  out.push(
    `Node ${process.version}, ${os.type()} ${os.release()}, ${os.cpus().length} × ${cpu}, commit ${gitCommit()}, ` +
      `${new Date().toISOString().slice(0, 10)}. ${opts.quick ? 'Quick run (small sizes). ' : ''}` +
      `Median of ${opts.rounds} round${opts.rounds > 1 ? 's' : ''} per implementation, interleaved, each in a fresh process; ` +
      `loopback 127.0.0.1; fd limit ${fdLimit()}` +
      (hasUdp ? `; net.core.rmem_default ${readProc('/proc/sys/net/core/rmem_default')} B` : '') +
      '.',
  )
  out.push('')
  out.push(`| Workload | Unit | bun-sockets | ${nodeName} | bun-sockets / node | Target | Met |`)
  out.push('|---|---|---:|---:|---:|---|:-:|')
  for (const row of rows) {
    for (const line of linesOf(row)) {
      const bun = median(row.results.bun.map((r) => r[line.key]))
      const node = median(row.results.node.map((r) => r[line.key]))
      const ratio = bun / node
      const ratioText = line.noRatio ? '—' : Number.isFinite(ratio) ? `${ratio.toFixed(2)}× (${line.better} is better)` : 'n/a'
      const unit = line.better === 'lower' ? `${line.unit} (lower is better)` : line.unit
      out.push(
        `| ${line.label} | ${unit} | ${fmt(bun, line.unit)} | ${fmt(node, line.unit)} | ${ratioText} | ${line.target} | ${verdict(line, bun, node)} |`,
      )
    }
  }
  out.push('')
  if (hasTcp) {
    out.push('Notes: throughput and echo honour backpressure on both sides (bun-sockets: re-send the rest of a')
    out.push("short write on `drain`; node: wait for 'drain' after `write()` returns false); the bun-sockets echo")
    out.push('server pauses reading while output is queued, the node one uses `socket.pipe(socket)`. Ping-pong sets')
    out.push('TCP_NODELAY on both ends. Connection cycles: connect, accept, client closes at once (bun-sockets')
    out.push('`end()`, node `destroy()`: both close the descriptor and send FIN), done when the server-side socket')
    out.push('has closed. Idle RSS: the measured process holds only one end of each connection (server side: the')
    out.push('listener; client side: the connecting sockets), the other ends live in a separate plain node:net')
    out.push('process; the last idle row keeps both ends in the measured process (2 sockets per connection,')
    out.push("the setup that matches the spec's \"node ≈ 7 KiB\"; the fd limit allows 5,000 such connections).")
    out.push('Figure: RSS after `gc()` with all connections open minus RSS after a warm-up (connections opened')
    out.push('and closed), divided by the number of connections.')
  }
  if (hasUdp) {
    if (hasTcp) out.push('')
    out.push('UDP notes: sender and receiver are two unconnected sockets of the same implementation, bound to')
    out.push('127.0.0.1 in the same child process (as the TCP rows keep both ends in one process), so each')
    out.push('implementation gets the same event loop to share between sending and receiving; default socket')
    out.push('buffers (the receive buffer holds ≈ 256 datagrams of 64 B). Pacing, identical for both: 64')
    out.push('datagrams per event-loop turn, then `setImmediate`, so the receiver runs between batches.')
    out.push('bun-sockets: the send() row calls `send(data, port, address)` 64 times per turn, the sendMany row')
    out.push('makes one `sendMany([data, port, address, …])` call of 64 datagrams per turn; a false `send()` or')
    out.push('a short `sendMany()` stops the batch and the rest goes out on `drain`. node:dgram has no')
    out.push('sendMany: both its rows run the same code, 64 `socket.send(data, port, address)` calls per turn')
    out.push('without callbacks, skipping a turn while `getSendQueueCount() > 0` (libuv holds what the kernel')
    out.push('did not take). node:dgram reads at most 32 datagrams per loop turn, so with 64 sent per turn it')
    out.push('drops about half. Rates: datagrams sent/received in the timed window after a warm-up; loss: the')
    out.push('whole run (warm-up included), counted once the receiver has been quiet for 100 ms. bun-sockets')
    out.push('receives on its own I/O thread (recvmmsg) and hands batches to JS, node:dgram reads on the JS')
    out.push('thread: the per-round details give each process\'s CPU use, and the kernel\'s RcvbufErrors')
    out.push('(machine-wide) over the run, i.e. datagrams dropped because the receive buffer was full.')
  }
  const details = []
  for (const row of rows) {
    for (const impl of IMPLS) {
      const vals = row.results[impl].map((r) => fmt(r.value, row.unit))
      const extra = row.idle
        ? ` (JS heap ${fmt(median(row.results[impl].map((r) => r.heapKiB)), 'KiB')} KiB/conn, external ${fmt(
            median(row.results[impl].map((r) => r.externalKiB)),
            'KiB',
          )} KiB/conn)`
        : ''
      const connErrors = row.results[impl].reduce((sum, r) => sum + (r.errors ?? 0), 0)
      const errs =
        (connErrors > 0 ? `; ${connErrors} connect errors` : '') +
        (row.errors[impl].length ? `; failures: ${row.errors[impl].join('; ')}` : '')
      if (row.lines) {
        const rounds = row.results[impl].map(
          (r) =>
            `${fmt(r.sentPerSec, '')} sent/s, ${fmt(r.receivedPerSec, '')} received/s, loss ${fmt(r.lossPct, '%')} %` +
            ` (${r.totalReceived.toLocaleString('en-US')} of ${r.totalSent.toLocaleString('en-US')}` +
            `; kernel RcvbufErrors +${r.rcvbufErrors.toLocaleString('en-US')}; CPU ${fmt(r.cpuPct, '')} % of a core` +
            `${r.senderWaits ? `; sender waited ${r.senderWaits}×` : ''}${r.badLength ? `; ${r.badLength} of wrong length` : ''})`,
        )
        details.push(`- ${row.label}, ${UDP_NAMES[impl]}: ${rounds.join('; ') || 'none'}${errs}`)
        continue
      }
      const names = row.tls ? TLS_NAMES : NAMES
      details.push(`- ${row.label}, ${names[impl]}: ${vals.join(', ') || 'none'} ${row.unit}${extra}${errs}`)
    }
  }
  out.push('')
  out.push('<details><summary>Per-round values</summary>')
  out.push('')
  out.push(...details)
  out.push('')
  out.push('</details>')
  console.log(out.join('\n'))
  log(`bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s`)
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const c of children) c.kill('SIGKILL')
    process.exit(130)
  })
}

main().catch((err) => {
  for (const c of children) c.kill('SIGKILL')
  console.error(err.message)
  process.exit(1)
})
