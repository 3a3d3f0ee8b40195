// Compiled with `tsc --noEmit --strict` in CI: the public typings accept Bun-style code.
import type { X509Certificate } from 'node:crypto'
import type { CipherNameAndProtocol, PeerCertificate } from 'node:tls'
import { connect, listen, udpSocket, type Socket, type TCPSocketListener, type udp } from '..'

const server: TCPSocketListener<{ count: number }> = listen({
  hostname: '127.0.0.1',
  port: 0,
  data: { count: 0 },
  socket: {
    binaryType: 'buffer',
    open(socket) {
      socket.setNoDelay(true)
    },
    data(socket, chunk: Buffer) {
      const written: number = socket.write(chunk, 0, chunk.byteLength)
      if (written < chunk.byteLength) socket.pause()
    },
    drain(socket) {
      socket.resume()
    },
    close(_socket, error?: Error) {
      if (error) console.error(error.message)
    },
  },
})

async function client(): Promise<void> {
  const socket: Socket<string> = await connect({
    hostname: server.hostname,
    port: server.port,
    data: 'tag',
    socket: {
      data(s, chunk) {
        s.end(chunk)
      },
      connectError(_s, error) {
        console.error(error)
      },
    },
  })
  socket.timeout(5)
  const left: string = socket.data
  void left
  server.stop(true)
}

async function datagrams(): Promise<void> {
  const sock: udp.Socket<'uint8array'> = await udpSocket({
    binaryType: 'uint8array',
    socket: {
      data(_s, data: Uint8Array, port: number, address: string, flags) {
        void [data, port, address, flags.truncated]
      },
      // What Bun passes: the error, with the socket as `this`.
      error(err) {
        console.error(err.message, (err as { errqueue?: boolean }).errqueue)
        this.close()
      },
    },
  })
  const sent: boolean = sock.send('ping', sock.port, '127.0.0.1')
  const many: number = sock.sendMany(['a', sock.port, '127.0.0.1'])
  void [sent, many]
  const connected: udp.ConnectedSocket<'buffer'> = await udpSocket({
    connect: { hostname: '127.0.0.1', port: 9 },
    // As bun-types declares it; it type-checks, though Bun passes only the error.
    socket: {
      error(socket, error) {
        void [socket.port, error.message]
      },
    },
  })
  connected.send('x')
  connected.close()
  sock.close()
}

void client()
void datagrams()

// TLS: options, the handshake handler, STARTTLS and introspection.
const certs = { key: Buffer.from('key'), cert: 'cert', ca: [new Uint8Array(1), 'ca'] }

const secureServer: TCPSocketListener<undefined> = listen({
  hostname: '127.0.0.1',
  port: 0,
  tls: { key: certs.key, cert: certs.cert, passphrase: 'secret', requestCert: true, ca: certs.ca },
  socket: {
    handshake(socket, success: boolean, authorizationError: Error | null) {
      if (!success) console.error(authorizationError?.message)
      const peer: PeerCertificate = socket.getPeerCertificate(true)
      void peer.subject
    },
    data() {},
  },
})

async function secureClient(): Promise<void> {
  const socket: Socket<undefined> = await connect({
    hostname: 'localhost',
    port: secureServer.port,
    tls: {
      caFile: 'ca.pem',
      serverName: 'localhost',
      rejectUnauthorized: true,
      ALPNProtocols: '\x02h2\x08http/1.1',
    },
    socket: {
      open(s) {
        s.setSession(Buffer.alloc(0))
      },
      handshake(s, success, error) {
        if (success && s.authorized) s.write('hi')
        else console.error(error?.message)
      },
      data() {},
    },
  })
  const alpn: string | false | null = socket.alpnProtocol
  const error: Error | null = socket.getAuthorizationError()
  const cipher: CipherNameAndProtocol = socket.getCipher()
  const version: string = socket.getTLSVersion()
  const peer: X509Certificate = socket.getPeerX509Certificate()
  const own: X509Certificate | undefined = socket.getX509Certificate()
  const keying: Buffer = socket.exportKeyingMaterial(32, 'EXPORTER-label', Buffer.alloc(0))
  const keying2: Buffer | undefined = socket.exportKeyingMaterial(32, 'EXPORTER-label')
  const session: Buffer | undefined = socket.getSession()
  const ticket: Buffer | undefined = socket.getTLSTicket()
  const sigalgs: string[] = socket.getSharedSigalgs()
  const servername: string = socket.getServername()
  const fragmented: boolean = socket.setMaxSendFragment(1024)
  const reused: boolean = socket.isSessionReused()
  void [alpn, error, cipher, version, peer, own, keying, keying2, session, ticket, sigalgs, servername, fragmented, reused]
  socket.setVerifyMode(true, true)
  socket.disableRenegotiation()

  // @ts-expect-error ALPN protocols go in wire format, not as an array
  void connect({ hostname: 'localhost', port: 1, tls: { ALPNProtocols: ['h2'] }, socket: { data() {} } })
  // @ts-expect-error `tls` is an object or a boolean
  void connect({ hostname: 'localhost', port: 1, tls: 'yes', socket: { data() {} } })
  // @ts-expect-error the handshake handler's `success` is a boolean
  void connect({ hostname: 'localhost', port: 1, socket: { handshake(_s, success: string) {} } })
  // @ts-expect-error exportKeyingMaterial needs a length and a label
  socket.exportKeyingMaterial(32)
}

async function startTls(): Promise<void> {
  const plain = await connect({ hostname: 'localhost', port: 25, data: 1, socket: { data() {} } })
  const [raw, secure]: [Socket<{ step: string }>, Socket<{ step: string }>] = plain.upgradeTLS({
    data: { step: 'tls' },
    tls: { ca: certs.ca, serverName: 'localhost' },
    socket: {
      handshake(s) {
        s.write(s.data.step)
      },
      data() {},
    },
  })
  void raw
  secure.end()
  // @ts-expect-error upgradeTLS needs the handlers of the TLS socket
  plain.upgradeTLS({ tls: true })
}

void secureClient()
void startTls()
