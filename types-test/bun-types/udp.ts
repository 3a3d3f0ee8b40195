// udpSocket against bun-types@1.4.4, with the one deliberate difference taken out: bun-types
// declares the UDP `error` handler as error(socket, error), Bun 1.4.4 calls error(error) with
// `this` = the socket, and index.d.ts says so. scripts/check-package.sh writes ./patched/index.d.ts,
// a copy of the package's typings with that handler spelled bun-types' way; all else must match.
import * as sockets from './patched/index.js'

const udpSocket: typeof Bun.udpSocket = sockets.udpSocket
const fromDefault: typeof Bun.udpSocket = sockets.default.udpSocket
void [udpSocket, fromDefault]

declare const plain: sockets.udp.Socket<'uint8array'>
declare const connected: sockets.udp.ConnectedSocket<'buffer'>
const asBun: [Bun.udp.Socket<'uint8array'>, Bun.udp.ConnectedSocket<'buffer'>] = [plain, connected]
void asBun

declare const bunOptions: Bun.udp.SocketOptions<'arraybuffer'>
declare const bunConnectOptions: Bun.udp.ConnectSocketOptions<'buffer'>
const ours: [sockets.udp.SocketOptions<'arraybuffer'>, sockets.udp.ConnectSocketOptions<'buffer'>] = [
  bunOptions,
  bunConnectOptions,
]
void ours
