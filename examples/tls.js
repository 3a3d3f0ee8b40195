'use strict'
// A TLS server and client over loopback, with the test certificates (a test CA and a server
// certificate for localhost; `__test__/fixtures/certs/make-certs.sh` makes new ones).
//   node examples/tls.js

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('..')

const certs = path.join(__dirname, '..', '__test__', 'fixtures', 'certs')
const pem = (name) => fs.readFileSync(path.join(certs, name), 'utf8')

const server = listen({
  hostname: '127.0.0.1',
  port: 0,
  tls: { key: pem('server-key.pem'), cert: pem('server.pem') },
  socket: {
    // Without a `handshake` handler, `open` runs once the handshake is done.
    open(socket) {
      console.log(`server: ${socket.getTLSVersion()} with ${socket.getCipher().name}`)
    },
    data(socket, data) {
      console.log(`server: received ${JSON.stringify(data.toString())}, echoing it back`)
      socket.write(data)
    },
    close() {
      console.log('server: client disconnected')
      server.stop()
    },
  },
})
console.log(`server: listening on ${server.hostname}:${server.port}`)

connect({
  hostname: '127.0.0.1',
  port: server.port,
  tls: { ca: pem('ca.pem'), serverName: 'localhost' },
  socket: {
    // Writes before the handshake are dropped, as in Bun: start talking here.
    handshake(socket, success, authorizationError) {
      if (!success) {
        console.log(`client: handshake failed: ${authorizationError?.code}`)
        return
      }
      const cert = socket.getPeerCertificate()
      console.log(`client: authorized=${socket.authorized}, server is ${cert.subject.CN}, issued by ${cert.issuer.CN}`)
      socket.write('hello over TLS')
    },
    data(socket, data) {
      console.log(`client: got ${JSON.stringify(data.toString())} back`)
      socket.end()
    },
    close() {
      console.log('client: closed')
    },
  },
})
