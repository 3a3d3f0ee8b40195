'use strict'
// Child processes for bench/index.js: every measurement runs in a fresh process (Node for
// bun-sockets and node, the bun executable for Bun) with an IPC channel, killed after a time limit.

const { spawn, execFileSync } = require('node:child_process')
const path = require('node:path')

const MiB = 1024 * 1024

// The fd limit is inherited; raise it (as far as the hard limit allows) for the idle tests.
const SHELL = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"'

/** The bun executable npm installed for the dev dependency `bun`. */
const DEFAULT_BUN = path.join(__dirname, '..', 'node_modules', '.bin', 'bun')

const children = new Set()

// Rows that open tens of thousands of connections run in a network namespace of their own,
// when this user may make one, with no TIME_WAIT sockets kept (tcp_max_tw_buckets 0 there).
// Otherwise every cycle leaves one, the ephemeral ports run out within two seconds, and from
// then on each connect(2) searches for a port: all three implementations then measured the
// kernel's search (about 14,000 connects/s each), and how many TIME_WAIT sockets earlier runs
// had left swayed a later run by up to 1.7×.
const NETNS_SHELL = 'ip link set lo up && sysctl -qw net.ipv4.tcp_max_tw_buckets=0 || exit 97; ' + SHELL
let netnsWorks = null
function freshNetworkAvailable() {
  if (netnsWorks === null) {
    try {
      execFileSync('unshare', ['-n', '--', 'bash', '-c', NETNS_SHELL, 'true'], { stdio: 'ignore', timeout: 10_000 })
      netnsWorks = true
    } catch {
      netnsWorks = false
    }
  }
  return netnsWorks
}

/** Bun's version, or null when `bin` does not run. */
function bunVersion(bin) {
  try {
    return execFileSync(bin, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString().trim()
  } catch {
    return null
  }
}

/**
 * Starts `<runtime> [flags] bench/<script> args` with an IPC channel; killed after `timeout` ms.
 * `exe` is the Node or bun executable.
 */
function startChild(exe, script, args, { flags = [], timeout, freshNetwork = false }) {
  const command = [exe, ...flags, path.join(__dirname, script), ...args]
  const [file, argv] =
    freshNetwork && freshNetworkAvailable()
      ? ['unshare', ['-n', '--', 'bash', '-c', NETNS_SHELL, ...command]]
      : ['bash', ['-c', SHELL, ...command]]
  const proc = spawn(file, argv, {
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

/** Runs one measurement of `row` for `impl` ('bun-sockets', 'node' or 'bun'). */
function measure(row, impl, bunBin) {
  const exe = impl === 'bun' ? bunBin : process.execPath
  return row.idle ? runIdle(row, impl, exe) : runWorker(row, impl, exe)
}

async function runWorker(row, impl, exe) {
  const child = startChild(exe, 'worker.js', [row.worker, impl, JSON.stringify(row.params)], {
    timeout: row.timeout,
    freshNetwork: row.freshNetwork === true,
  })
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
async function runIdle(row, impl, exe) {
  const { side, n, warm } = row.idle
  const timeout = row.timeout
  // Bun has Bun.gc(); Node needs the flag for gc().
  const measured = startChild(exe, 'idle.js', [impl, side], { flags: impl === 'bun' ? [] : ['--expose-gc'], timeout })
  // With both ends in the measured process there is no peer and each connection is 2 sockets.
  const peer =
    side === 'both'
      ? null
      : startChild(process.execPath, 'idle.js', ['node', side === 'server' ? 'clients' : 'server'], {
          flags: ['--expose-gc'],
          timeout,
        })
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

function killAll() {
  for (const c of children) c.kill('SIGKILL')
}

/** The fd limit the children get. */
function fdLimit() {
  try {
    return execFileSync('bash', ['-c', `${SHELL.replace(/; exec.*/, '')}; ulimit -n`], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim()
  } catch {
    return '?'
  }
}

module.exports = { DEFAULT_BUN, bunVersion, measure, killAll, fdLimit, freshNetworkAvailable }
