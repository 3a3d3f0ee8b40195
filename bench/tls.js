'use strict'
// TLS workloads for bench/worker.js: Bun's API (bun-sockets or Bun) against node:tls, both ends
// in this process, with the test certificates (P-256 server key, TLS 1.3 on all).
//
// tlsbulk: the client sends `bytes` in `chunk`-byte writes after the handshake, honouring
// backpressure; the server counts them. The clock runs from the first write to the last byte.
// handshakes: full handshakes (no resumption) per second, `inflight` at once; each connection
// closes as soon as its handshake completed. Counted over `seconds` after `warmup`.

const fs = require('node:fs')
const path = require('node:path')
const tls = require('./common').lazyModule('node:tls')
const { HOST, MiB, loadBun, deferred, now, bunPump, nodePump, connLoop } = require('./common')

const certs = path.join(__dirname, '..', '__test__', 'fixtures', 'certs')
const read = (name) => fs.readFileSync(path.join(certs, name), 'utf8')
const SERVER = { key: read('server-key.pem'), cert: read('server.pem') }
const CLIENT = { ca: read('ca.pem'), serverName: 'localhost' }

async function tlsBulkBun({ bytes, chunk }) {
  const bun = loadBun()
  const done = deferred()
  let received = 0
  const server = bun.listen({
    hostname: HOST,
    port: 0,
    tls: SERVER,
    socket: {
      data(s, buf) {
        received += buf.length
        if (received >= bytes) done.resolve()
      },
      error() {},
    },
  })
  let t0 = 0
  const { pump } = bunPump(bytes, chunk, done.reject)
  const client = await bun.connect({
    hostname: HOST,
    port: server.port,
    tls: CLIENT,
    socket: {
      handshake(s, ok, err) {
        if (!ok) return done.reject(err)
        t0 = now()
        pump(s)
      },
      drain: pump,
      data() {},
      error(s, err) {
        done.reject(err)
      },
    },
  })
  await done.promise
  const ms = now() - t0
  client.end()
  server.stop(true)
  if (received !== bytes) throw new Error(`received ${received} bytes, expected ${bytes}`)
  return { value: bytes / MiB / (ms / 1000), ms }
}

async function tlsBulkNode({ bytes, chunk }) {
  const done = deferred()
  let received = 0
  const server = tls.createServer({ key: SERVER.key, cert: SERVER.cert }, (s) => {
    s.on('error', () => {})
    s.on('data', (buf) => {
      received += buf.length
      if (received >= bytes) done.resolve()
    })
  })
  await new Promise((resolve) => server.listen(0, HOST, resolve))
  const connected = deferred()
  const client = tls.connect(
    { host: HOST, port: server.address().port, ca: CLIENT.ca, servername: CLIENT.serverName },
    connected.resolve,
  )
  client.on('error', (err) => done.reject(err))
  await connected.promise
  const { pump } = nodePump(client, bytes, chunk)
  const t0 = now()
  pump()
  await done.promise
  const ms = now() - t0
  client.destroy()
  server.close()
  if (received !== bytes) throw new Error(`received ${received} bytes, expected ${bytes}`)
  return { value: bytes / MiB / (ms / 1000), ms }
}

async function handshakesBun(params) {
  const bun = loadBun()
  const server = bun.listen({ hostname: HOST, port: 0, tls: SERVER, socket: { data() {}, error() {} } })
  const result = await connLoop(params, (finished) => {
    bun
      .connect({
        hostname: HOST,
        port: server.port,
        tls: CLIENT,
        socket: {
          handshake(s, ok, err) {
            s.end()
            finished(ok ? null : err)
          },
          data() {},
          error() {},
        },
      })
      .catch(finished)
  })
  server.stop(true)
  return result
}

async function handshakesNode(params) {
  const server = tls.createServer({ key: SERVER.key, cert: SERVER.cert }, (s) => {
    s.on('error', () => {})
    s.resume()
  })
  await new Promise((resolve) => server.listen(0, HOST, resolve))
  const port = server.address().port
  const result = await connLoop(params, (finished) => {
    const s = tls.connect({ host: HOST, port, ca: CLIENT.ca, servername: CLIENT.serverName }, () => {
      s.end()
      finished(null)
    })
    s.once('error', finished)
  })
  server.close()
  return result
}

module.exports = {
  tlsbulk: { bun: tlsBulkBun, node: tlsBulkNode },
  handshakes: { bun: handshakesBun, node: handshakesNode },
}
