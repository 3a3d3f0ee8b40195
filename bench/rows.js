'use strict'
// The benchmark's workloads: what each row measures, its sizes (full and --quick) and its
// targets (issue 10). A row runs one worker measurement per implementation and round; `lines`
// turns one measurement into several table lines.

const MiB = 1024 * 1024

// Targets compare the medians of one run, m = { ours, node, bun }; `needs` names the other
// implementation the test reads, so a missing one gives 'n/a' rather than 'no'.
const atLeast = (who, x = 1, note = '') => ({
  text: `≥ ${x === 1 ? '' : `${x}× `}${who === 'bun' ? 'Bun' : 'node'}${note}`,
  needs: who,
  test: (m) => m.ours >= x * m[who],
})
const atMost = (who) => ({ text: `≤ ${who === 'bun' ? 'Bun' : 'node'}`, needs: who, test: (m) => m.ours <= m[who] })
const limit = (max, text) => ({ text, test: (m) => m.ours <= max })

const GE_NODE = atLeast('node')
const GOAL_BUN = atLeast('bun', 1, ' (goal)')

const higher = (targets) => ({ better: 'higher', targets })
const lower = (targets) => ({ better: 'lower', targets })

const WORKLOADS = [
  {
    name: 'throughput',
    aliases: ['oneway'],
    rows: (q) => {
      const bytes = q ? 128 * MiB : 1024 * MiB
      const label = `One-way throughput, ${size(bytes)} in 64 KiB writes`
      return [
        {
          label,
          worker: 'bulk',
          params: { bytes, chunk: 64 * 1024, echo: false },
          timeout: 120_000,
          lines: [
            { key: 'value', label, unit: 'MiB/s', ...higher([GE_NODE, GOAL_BUN]) },
            { key: 'peakRssMiB', label: `Peak RSS while streaming (one-way, ${size(bytes)})`, unit: 'MiB', ...lower([atMost('node')]) },
          ],
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
          ...higher([GE_NODE, GOAL_BUN]),
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
        // 32 connections: the work spreads over two threads, so the goal is above Bun's one.
        ...higher([GE_NODE, conns === 1 ? GOAL_BUN : atLeast('bun', 1.3, ' (goal)')]),
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
        ...higher([GE_NODE]),
        worker: 'connrate',
        // Each cycle leaves a TIME_WAIT socket behind: see bench/run.js freshNetwork.
        freshNetwork: true,
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
      const idleRow = (side, conns, label) => ({
        label,
        unit: 'KiB',
        ...lower([limit(4, '≤ 4 KiB'), atMost('node')]),
        idle: { side, n: conns, warm },
        timeout: 180_000,
      })
      const count = (k) => k.toLocaleString('en-US')
      return [
        idleRow('server', n, `RSS per idle connection, ${count(n)} conns, server side`),
        idleRow('clients', n, `RSS per idle connection, ${count(n)} conns, client side`),
        // Half the connections, so the process holds as many sockets as in the rows above.
        idleRow('both', n / 2, `RSS per idle connection, ${count(n / 2)} conns, both ends in one process (2 sockets each)`),
      ]
    },
  },
  {
    name: 'slow',
    aliases: ['slow-consumer'],
    rows: (q) => {
      const bytes = q ? 64 * MiB : 256 * MiB
      return [
        {
          label: `Slow consumer: peak RSS, ${size(bytes)} flood, 1 ms per received chunk`,
          unit: 'MiB',
          key: 'peakRssMiB',
          ...lower([atMost('bun'), atMost('node')]),
          worker: 'bulk',
          params: { bytes, chunk: 64 * 1024, echo: false, spinMs: 1 },
          timeout: 300_000,
        },
      ]
    },
  },
  {
    name: 'idlecpu',
    aliases: ['cpu'],
    rows: (q) => {
      const conns = 1000
      const settle = 1
      const seconds = q ? 1 : 2
      const label = `Idle CPU, ${conns.toLocaleString('en-US')} idle connections (both ends in one process)`
      return [
        {
          label,
          worker: 'idlecpu',
          params: { conns, size: 64, rounds: 20, settle, seconds, firstMs: 10 },
          timeout: 60_000,
          lines: [
            // Near zero a ratio says nothing: these lines show none.
            {
              key: 'value',
              label: `${label}: over ${seconds} s, from ${settle} s after traffic stopped`,
              unit: '% of a core',
              noRatio: true,
              ...lower([limit(0.5, '≈ 0 (≤ 0.5 %)')]),
            },
            {
              key: 'firstPct',
              label: `${label}: first 10 ms after the last reply`,
              unit: '% of a core',
              noRatio: true,
              // Two threads each asleep within 1 ms use at most 2 ms of 10.
              ...lower([limit(20, '≤ 20 % (asleep within 1 ms)')]),
            },
          ],
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
          ...higher([GE_NODE]),
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
        ...higher([atLeast('node', 3)]),
        tls: true,
        worker: 'handshakes',
        // Each cycle leaves a TIME_WAIT socket behind: see bench/run.js freshNetwork.
        freshNetwork: true,
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
          worker: 'udp',
          params: { mode, size: 64, batch: 64, seconds, warmup },
          timeout: (seconds + warmup) * 1000 + 30_000,
          // One measurement, three lines of the table.
          lines: [
            { key: 'sentPerSec', label: `${label}: sent`, unit: 'datagrams/s', ...higher([]) },
            {
              key: 'receivedPerSec',
              label: `${label}: received`,
              unit: 'datagrams/s',
              // sendMany is where bun-sockets was ahead: issue 10 asks that it stays ≥ 1.6×.
              ...higher([mode === 'sendMany' ? atLeast('node', 1.6) : GE_NODE]),
            },
            { key: 'lossPct', label: `${label}: loss`, unit: '%', noRatio: true, ...lower([limit(0, '0 % (no loss)')]) },
          ],
        },
      ]
    },
  })),
]

function size(bytes) {
  return bytes >= 1024 * MiB ? `${bytes / 1024 / MiB} GiB` : `${bytes / MiB} MiB`
}

/** The table lines a row makes: its own, or several read from the same measurements. */
function linesOf(row) {
  return row.lines ?? [{ key: row.key ?? 'value', label: row.label, unit: row.unit, better: row.better, targets: row.targets }]
}

/** 'yes', 'no', or 'n/a' (an implementation the target compares with has no figure). */
function verdict(target, m) {
  if (!Number.isFinite(m.ours)) return 'failed'
  if (target.needs !== undefined && !Number.isFinite(m[target.needs])) return 'n/a'
  return target.test(m) ? 'yes' : 'no'
}

function selectWorkloads(names, usage) {
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

module.exports = { WORKLOADS, MiB, linesOf, verdict, selectWorkloads }
