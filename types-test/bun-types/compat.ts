// The public typings against bun-types@1.4.4, both ways, under tsc --strict. Compiled by
// scripts/check-package.sh in an empty project holding the packed tarball, bun-types, typescript
// and @types/node (not by `npm run check:types`: bun-types is no dependency of the repo).
import * as sockets from 'bun-sockets'
import Default from 'bun-sockets'

type D = { id: number }

// Each export stands in for Bun's own.
const listen: typeof Bun.listen = sockets.listen
const connect: typeof Bun.connect = sockets.connect
const Sink: typeof Bun.ArrayBufferSink = sockets.ArrayBufferSink
// bun-types declares the UDP `error` handler as error(socket, error); Bun 1.4.4 calls error(error)
// with `this` = the socket, and so does the package, whose typings admit both (udp.ts).
const udpSocket: typeof Bun.udpSocket = sockets.udpSocket
const subset: Pick<typeof Bun, 'listen' | 'connect' | 'ArrayBufferSink'> = Default
void [listen, connect, udpSocket, Sink, subset]

// Our objects pass where Bun's are expected.
declare const socket: sockets.Socket<D>
declare const tlsSocket: sockets.TLSSocket
declare const tcpSocket: sockets.TCPSocket
declare const listener: sockets.TCPSocketListener<string>
declare const unixListener: sockets.UnixSocketListener<string>
declare const handler: sockets.SocketHandler<D>
declare const sink: sockets.ArrayBufferSink
const asBun: [
  Bun.Socket<D>,
  Bun.TLSSocket,
  Bun.TCPSocket,
  Bun.TCPSocketListener<string>,
  Bun.UnixSocketListener<string>,
  Bun.SocketHandler<D>,
  Bun.ArrayBufferSink,
] = [socket, tlsSocket, tcpSocket, listener, unixListener, handler, sink]
void asBun

// Code written against bun-types passes into ours (Bun's sockets lack our `fd`, so only inputs).
declare const bunHandler: Bun.SocketHandler<D>
declare const bunTls: Bun.TLSOptions
declare const bunListenOptions: Bun.TCPSocketListenOptions<D>
declare const bunConnectOptions: Bun.TCPSocketConnectOptions<D>
declare const bunUnixOptions: Bun.UnixSocketOptions<D>
declare const bunUpgrade: Bun.TLSUpgradeOptions<D>
declare const bunFile: Bun.BunFile
const ours: [
  sockets.SocketHandler<D>,
  sockets.TLSOptions,
  sockets.TCPSocketListenOptions<D>,
  sockets.TCPSocketConnectOptions<D>,
  sockets.UnixSocketOptions<D>,
  sockets.TLSUpgradeOptions<D>,
  sockets.BunFile,
] = [bunHandler, bunTls, bunListenOptions, bunConnectOptions, bunUnixOptions, bunUpgrade, bunFile]
void ours

const server: sockets.TCPSocketListener<D> = sockets.listen({
  hostname: '127.0.0.1',
  port: 0,
  data: { id: 1 },
  tls: { key: bunFile, cert: [bunFile], ca: bunTls.ca, passphrase: bunTls.passphrase },
  socket: bunHandler,
})
const unixServer: sockets.UnixSocketListener<D> = sockets.listen(bunUnixOptions)
void [server, unixServer]

async function client(): Promise<Bun.Socket<D>> {
  const s: Bun.Socket<D> = await sockets.connect(bunConnectOptions)
  const [raw, secure]: [Bun.Socket<D>, Bun.Socket<D>] = s.upgradeTLS(bunUpgrade)
  raw.end()
  return secure
}
void client
