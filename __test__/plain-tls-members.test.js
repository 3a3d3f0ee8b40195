'use strict'
// The TLS introspection members of a plain TCP socket answer as Bun's do.
const { listen, connect } = require('bun')
const { deferred, within } = require('./helpers')

test('TLS members on a plain socket return what Bun returns there', async () => {
  const accepted = deferred()
  const server = listen({
    hostname: '127.0.0.1',
    port: 0,
    tls: {},
    socket: { open: accepted.resolve, data() {} },
  })
  const client = await within(connect({ hostname: '127.0.0.1', port: server.port, socket: { data() {} } }), 5000)
  const serverSide = await within(accepted.promise, 5000)
  try {
    for (const socket of [client, serverSide]) {
      expect(Object.prototype.toString.call(socket)).toBe('[object TCPSocket]')
      expect(socket.authorized).toBe(false)
      expect(socket.alpnProtocol).toBe(false)
      expect(socket.getAuthorizationError()).toBeNull()
      expect(socket.getCipher()).toBeUndefined()
      expect(socket.getTLSVersion()).toBeNull()
      expect(socket.getPeerCertificate()).toBeNull()
      expect(socket.getPeerCertificate(true)).toBeNull()
      expect(socket.getCertificate()).toBeUndefined()
      expect(socket.getEphemeralKeyInfo()).toBeNull()
      expect(socket.getSharedSigalgs()).toBeUndefined()
      expect(socket.exportKeyingMaterial(32, 'label', Buffer.alloc(0))).toBeUndefined()
      expect(socket.exportKeyingMaterial()).toBeUndefined()
      expect(socket.isSessionReused()).toBe(false)
      expect(socket.getSession()).toBeUndefined()
      expect(socket.getTLSTicket()).toBeUndefined()
      expect(socket.getTLSFinishedMessage()).toBeUndefined()
      expect(socket.getTLSPeerFinishedMessage()).toBeUndefined()
      expect(socket.getServername()).toBeUndefined()
      expect(socket.setServername('example.test')).toBeUndefined()
      expect(socket.setSession(Buffer.from('x'))).toBeUndefined()
      expect(socket.setVerifyMode(true, true)).toBeUndefined()
      expect(socket.renegotiate()).toBeUndefined()
      expect(socket.disableRenegotiation()).toBeUndefined()
      expect(socket.setMaxSendFragment(1024)).toBe(false)
      expect(typeof socket.getPeerX509Certificate).toBe('undefined')
      expect(typeof socket.getX509Certificate).toBe('undefined')
      expect(socket.readyState).toBe(1)
    }
  } finally {
    client.end()
    server.stop(true)
  }
})
