'use strict'
// Benchmark: bun-sockets against Node's own net/tls/dgram and against Bun itself, in one run.
//
//   node bench/index.js                      every workload, 3 rounds each
//   node bench/index.js --quick              smaller sizes, 1 round (smoke run)
//   node bench/index.js throughput echo      only the named workloads
//   node bench/index.js udp                  a group: udp-send and udp-sendmany
//   node bench/index.js tls                  a group: tls-throughput and tls-handshakes
//   node bench/index.js --rounds 5           more rounds
//   node bench/index.js --bun PATH           the bun executable (default: the dev dependency's)
//   node bench/index.js --no-bun             bun-sockets and Node only
//
// Workloads (see --help): throughput (one-way MiB/s and peak RSS), echo, pingpong (1 and 32
// connections), connrate, idle (RSS per idle connection), slow (slow consumer's peak RSS),
// idlecpu (CPU of 1,000 idle connections), tls-throughput, tls-handshakes, udp-send,
// udp-sendmany. Every measurement runs in a fresh child process (bench/worker.js,
// bench/idle.js; bench/run.js starts them) that is killed after a time limit. Bun's processes
// run the same Bun-API code as bun-sockets' (bench/common.js loadBun). The three
// implementations take turns within each round, the order rotating round by round, and the
// table (bench/report.js) shows each one's median, bun-sockets / Node and bun-sockets / Bun,
// and a verdict per target (bench/rows.js). Everything runs on 127.0.0.1. Progress goes to
// stderr, the Markdown table to stdout.

const { WORKLOADS, linesOf, selectWorkloads } = require('./rows')
const { DEFAULT_BUN, bunVersion, measure, killAll, fdLimit, freshNetworkAvailable } = require('./run')
const { IMPLS, report, implNames, fmt } = require('./report')

function usage() {
  const groups = [...new Set(WORKLOADS.map((w) => w.group).filter(Boolean))]
  return `usage: node bench/index.js [--quick] [--rounds N] [--bun PATH | --no-bun] [workload ...]
workloads: ${WORKLOADS.map((w) => w.name + (w.aliases.length ? ` (${w.aliases.join(', ')})` : '')).join(', ')}
groups: ${groups.map((g) => `${g} (${WORKLOADS.filter((w) => w.group === g).map((w) => w.name).join(', ')})`).join(', ')}`
}

function parseArgs(argv) {
  const opts = { quick: false, rounds: undefined, bun: DEFAULT_BUN, names: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick' || a === '-q') opts.quick = true
    else if (a === '--rounds' || a === '-r') opts.rounds = Number(argv[++i])
    else if (a.startsWith('--rounds=')) opts.rounds = Number(a.slice('--rounds='.length))
    else if (a === '--bun') opts.bun = argv[++i]
    else if (a.startsWith('--bun=')) opts.bun = a.slice('--bun='.length)
    else if (a === '--no-bun') opts.bun = null
    else if (a === '--help' || a === '-h') {
      console.log(usage())
      process.exit(0)
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${usage()}`)
    else opts.names.push(a.toLowerCase())
  }
  if (opts.rounds !== undefined && !(Number.isInteger(opts.rounds) && opts.rounds > 0)) {
    throw new Error('--rounds takes a positive integer')
  }
  if (opts.bun === undefined || opts.bun === '') throw new Error('--bun takes the path of a bun executable')
  opts.rounds ??= opts.quick ? 1 : 3
  return opts
}

/** Which Bun runs, or why none does. */
function findBun(bin) {
  if (bin === null) return { bin: null, version: null, why: '--no-bun' }
  const version = bunVersion(bin)
  if (version === null) return { bin: null, version: null, why: `${bin} does not run (npm ci installs bun@1.4.4)` }
  return { bin, version, why: null }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const rows = selectWorkloads(opts.names, usage).flatMap((w) => w.rows(opts.quick))
  const log = (s) => process.stderr.write(`${s}\n`)
  const bun = findBun(opts.bun)
  if (bun.version === null) log(`bench: Bun skipped: ${bun.why}`)
  else if (bun.version !== '1.4.4') log(`bench: note: Bun ${bun.version}, the issue's figures are from 1.4.4`)
  const impls = IMPLS.filter((impl) => impl !== 'bun' || bun.bin !== null)
  const started = Date.now()
  log(`bench: ${rows.length} rows × ${opts.rounds} round(s) × ${impls.length} implementations${opts.quick ? ' (quick)' : ''}`)

  for (const row of rows) {
    row.results = Object.fromEntries(IMPLS.map((i) => [i, []]))
    row.errors = Object.fromEntries(IMPLS.map((i) => [i, []]))
    const names = implNames(row, bun)
    for (let round = 0; round < opts.rounds; round++) {
      // Rotate who goes first, so drift (thermal, other load) hits every implementation alike.
      const order = impls.map((_, k) => impls[(k + round) % impls.length])
      for (const impl of order) {
        const tag = `  ${row.label} [round ${round + 1}] ${names[impl]}`
        try {
          const r = await measure(row, impl, bun.bin)
          row.results[impl].push(r)
          log(`${tag}: ${linesOf(row).map((l) => `${fmt(r[l.key], l.unit)} ${l.unit}`).join(', ')}`)
        } catch (err) {
          row.errors[impl].push(err.message)
          log(`${tag}: FAILED ${err.message}`)
        }
      }
    }
  }

  console.log(report(rows, { opts, bun, fdLimit: fdLimit(), freshNetwork: freshNetworkAvailable() }))
  log(`bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s`)
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll()
    process.exit(130)
  })
}

main().catch((err) => {
  killAll()
  console.error(err.message)
  process.exit(1)
})
