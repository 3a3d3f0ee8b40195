// udpSocket against bun-types@1.4.4. bun-types declares the UDP `error` handler as
// error(socket, error); Bun 1.4.4 calls error(error) with `this` = the socket. The package's
// typings admit both, so handlers and options typed against bun-types pass unchanged.
import * as sockets from 'bun-sockets'

const udpSocket: typeof Bun.udpSocket = sockets.udpSocket
const fromDefault: typeof Bun.udpSocket = sockets.default.udpSocket
void [udpSocket, fromDefault]

declare const plain: sockets.udp.Socket<'uint8array'>
declare const connected: sockets.udp.ConnectedSocket<'buffer'>
const asBun: [Bun.udp.Socket<'uint8array'>, Bun.udp.ConnectedSocket<'buffer'>] = [plain, connected]
void asBun

declare const bunOptions: Bun.udp.SocketOptions<'arraybuffer'>
declare const bunConnectOptions: Bun.udp.ConnectSocketOptions<'buffer'>
declare const bunHandler: Bun.udp.SocketHandler<'buffer'>
const ours: [sockets.udp.SocketOptions<'arraybuffer'>, sockets.udp.ConnectSocketOptions<'buffer'>, sockets.udp.SocketHandler<'buffer'>] = [
  bunOptions,
  bunConnectOptions,
  bunHandler,
]
void ours

// Handlers written inline the bun-types way, and the way Bun calls them.
async function handlers(): Promise<void> {
  const a = await sockets.udpSocket({ socket: { error(socket, error) { void [socket.port, error.message] } } })
  const b = await sockets.udpSocket({ socket: { error(error) { void [this.port, error.message] } } })
  a.close()
  b.close()
}
void handlers
