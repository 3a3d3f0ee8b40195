'use strict'
// The Markdown report of bench/index.js: one table (bun-sockets, Node, Bun, both ratios, the
// targets and their verdicts), notes on method, and every round's figures.

const os = require('node:os')
const fs = require('node:fs')
const { execFileSync } = require('node:child_process')
const { linesOf, verdict } = require('./rows')

const IMPLS = ['bun-sockets', 'node', 'bun']

function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

function fmt(value, unit) {
  if (!Number.isFinite(value)) return 'n/a'
  if (unit === 'MiB') return value.toFixed(1)
  if (unit === '% of a core') return value.toFixed(value < 1 ? 3 : 1)
  if (unit === 'KiB' || unit === '%') return value.toFixed(2)
  return Math.round(value).toLocaleString('en-US')
}

/** What the node column holds for a row. */
const nodeModule = (row) => (row.udp ? 'node:dgram' : row.tls ? 'node:tls' : 'node:net')

/** Display names; `bun` carries the version that ran. */
function implNames(row, bun) {
  return { 'bun-sockets': 'bun-sockets', node: nodeModule(row), bun: bun.version ? `Bun ${bun.version}` : 'Bun' }
}

/** One line per round of a row, for the details. */
function roundText(row, r) {
  const lines = linesOf(row)
  const main = lines.map((l) => `${fmt(r[l.key], l.unit)} ${l.unit}`).join(', ')
  if (row.udp) {
    return (
      `${fmt(r.sentPerSec, '')} sent/s, ${fmt(r.receivedPerSec, '')} received/s, loss ${fmt(r.lossPct, '%')} %` +
      ` (${r.totalReceived.toLocaleString('en-US')} of ${r.totalSent.toLocaleString('en-US')}` +
      `; kernel RcvbufErrors +${r.rcvbufErrors.toLocaleString('en-US')}; CPU ${fmt(r.cpuPct, '')} % of a core` +
      `${r.senderWaits ? `; sender waited ${r.senderWaits}×` : ''}${r.badLength ? `; ${r.badLength} of wrong length` : ''})`
    )
  }
  if (row.idle) return `${main} (JS heap ${fmt(r.heapKiB, 'KiB')}, external ${fmt(r.externalKiB, 'KiB')} KiB/conn)`
  if (row.worker === 'bulk') {
    const rate = lines.some((l) => l.key === 'value') ? '' : `${fmt(r.value, '')} MiB/s, `
    const rss = lines.some((l) => l.key === 'peakRssMiB')
      ? `20 ms samples peaked at ${fmt(r.sampledPeakRssMiB, 'MiB')} MiB`
      : `peak RSS ${fmt(r.peakRssMiB, 'MiB')} MiB`
    return `${main} (${rate}${fmt(r.chunks, '')} chunks of ${fmt(r.meanChunkKiB, 'KiB')} KiB on average, ${rss})`
  }
  if (row.worker === 'idlecpu') {
    return `${main} (threads besides JS in the first ${r.firstMs.toFixed(1)} ms: ${r.firstThreads || 'none'}; in the idle window: ${r.threads || 'none'})`
  }
  return `${main}${r.errors ? ` (${r.errors} connect errors)` : ''}`
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: __dirname, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim()
  } catch {
    return 'unknown'
  }
}

function readProc(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim()
  } catch {
    return '?'
  }
}

/** The report for `rows` (each with results[impl] and errors[impl]) as Markdown lines. */
function report(rows, { opts, bun, fdLimit, freshNetwork }) {
  const out = []
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const hasTcp = rows.some((r) => !r.udp && !r.tls)
  const hasUdp = rows.some((r) => r.udp)
  const modules = [...new Set(rows.map(nodeModule))].join(' / ')
  const bunName = bun.version ? `Bun ${bun.version}` : 'Bun (not run)'
  out.push(`### bun-sockets vs ${modules} vs ${bunName}`)
  out.push('')
  out.push(
    `Node ${process.version}, ${bunName}, ${os.type()} ${os.release()}, ${os.cpus().length} × ${cpu}, ` +
      `commit ${gitCommit()}, ${new Date().toISOString().slice(0, 10)}. ${opts.quick ? 'Quick run (small sizes). ' : ''}` +
      `Median of ${opts.rounds} round${opts.rounds > 1 ? 's' : ''} per implementation, interleaved (the order ` +
      `rotates each round), each in a fresh process; loopback 127.0.0.1; fd limit ${fdLimit}` +
      (hasUdp ? `; net.core.rmem_default ${readProc('/proc/sys/net/core/rmem_default')} B` : '') +
      (rows.some((r) => r.freshNetwork)
        ? freshNetwork
          ? '; connection-rate rows each in a network namespace of their own that keeps no TIME_WAIT sockets'
          : '; connection-rate rows in the shared network namespace (unshare -n was refused: TIME_WAIT sockets sway them)'
        : '') +
      '.' +
      (bun.version ? '' : ` Bun did not run: ${bun.why}.`),
  )
  out.push('')
  const bunHead = bun.version ? `Bun ${bun.version}` : 'Bun'
  out.push(`| Workload | Unit | bun-sockets | Node ${process.version} | ${bunHead} | bun-sockets / Node | bun-sockets / Bun | Target | Met |`)
  out.push('|---|---|---:|---:|---:|---:|---:|---|---|')
  for (const row of rows) {
    for (const line of linesOf(row)) {
      const m = {}
      for (const impl of IMPLS) m[impl] = median(row.results[impl].map((r) => r[line.key]))
      const medians = { ours: m['bun-sockets'], node: m.node, bun: m.bun }
      const ratio = (other) => {
        if (line.noRatio) return '—'
        const x = medians.ours / other
        return Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a'
      }
      const unit = line.better === 'lower' ? `${line.unit} (lower is better)` : line.unit
      const targets = line.targets.length ? line.targets.map((t) => t.text).join('; ') : '—'
      const met = line.targets.length ? line.targets.map((t) => verdict(t, medians)).join('; ') : '—'
      const cells = [line.label, unit, ...IMPLS.map((i) => fmt(m[i], line.unit)), ratio(medians.node), ratio(medians.bun), targets, met]
      out.push(`| ${cells.join(' | ')} |`)
    }
  }
  out.push('')
  out.push(...notes({ hasTcp, hasUdp }))
  out.push('')
  out.push('<details><summary>Per-round values</summary>')
  out.push('')
  for (const row of rows) {
    const names = implNames(row, bun)
    for (const impl of IMPLS) {
      const rounds = row.results[impl].map((r) => roundText(row, r))
      const errs = row.errors[impl].length ? `; failures: ${row.errors[impl].join('; ')}` : ''
      out.push(`- ${row.label}, ${names[impl]}: ${rounds.join('; ') || 'none'}${errs}`)
    }
  }
  out.push('')
  out.push('</details>')
  return out.join('\n')
}

function notes({ hasTcp, hasUdp }) {
  const out = [
    'Notes: bun-sockets and Bun run the same benchmark code against Bun\'s API (bun-sockets under Node,',
    'Bun\'s own `Bun.listen`/`Bun.connect`/`Bun.udpSocket` under the bun executable); node runs the',
    'same workloads on node:net, node:tls and node:dgram. Ratios divide bun-sockets\' median by the',
    'other\'s; for "lower is better" rows a ratio below 1 is better.',
  ]
  if (hasTcp) {
    out.push(
      '',
      'TCP: throughput and echo honour backpressure on both sides (Bun\'s API: re-send the rest of a short',
      "write on `drain`; node: wait for 'drain' after `write()` returns false); the Bun-API echo server",
      'pauses reading while output is queued, the node one uses `socket.pipe(socket)`. Peak RSS is the',
      "whole process's (the kernel's VmHWM; a 20 ms sample on the JS thread is in the details). Slow",
      'consumer: the one-way run with a receiver that busy-waits 1 ms per `data` chunk; fewer, larger',
      'chunks finish sooner, so the details give the chunk count. Ping-pong sets TCP_NODELAY on both ends.',
      'Connection cycles: connect, accept, client closes at once (Bun\'s `end()`, node `destroy()`: both',
      'close the descriptor and send FIN), done when the server-side socket has closed; these rows and the',
      'TLS handshakes run in a network namespace that keeps no TIME_WAIT sockets (where one can be made),',
      'else ports run out within 2 s and every implementation measures the kernel\'s port search. Idle RSS: the',
      'measured process holds one end of each connection, a plain node:net process the other; the last',
      'idle row keeps both ends in the measured process (2 sockets per connection). Figure: RSS after a',
      'full GC with all connections open minus RSS after a warm-up, per connection. Idle CPU: 1,000',
      'connections (both ends in the process) carry 20 round trips each, then none: user + system CPU of',
      'the whole process (`process.cpuUsage()`, all threads) over the first 10 ms after the last reply,',
      'and over a window after a 1 s settle; the details list the other threads that ran (/proc schedstat):',
      "bun-sockets' own are bun-sockets-io and bun-sockets-dns, threads named node are Node's (V8, libuv).",
    )
  }
  if (hasUdp) {
    out.push(
      '',
      'UDP: sender and receiver are two unconnected sockets of the same implementation, bound to',
      '127.0.0.1 in one child process; default socket buffers (≈ 256 datagrams of 64 B). Pacing, the',
      'same for all: 64 datagrams per event-loop turn, then `setImmediate`. Bun\'s API: the send() row',
      'calls `send(data, port, address)` 64 times per turn, the sendMany row makes one `sendMany()` of',
      '64; a false `send()` or a short `sendMany()` stops the batch until `drain`. node:dgram has no',
      'sendMany: both its rows make 64 `send()` calls per turn, skipping a turn while',
      '`getSendQueueCount() > 0`; it reads at most 32 datagrams per loop turn, so it drops about half.',
      'Rates: the timed window after a warm-up; loss: the whole run, once the receiver has been quiet',
      'for 100 ms. The details give CPU use and the kernel\'s RcvbufErrors (machine-wide) per round.',
    )
  }
  return out
}

module.exports = { IMPLS, report, implNames, fmt }
