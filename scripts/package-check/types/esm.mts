// ESM: named, default and namespace imports, as index.mjs really exports them.
import Bun, { listen, connect, udpSocket, ArrayBufferSink, type Socket, type TCPSocketListener } from 'bun-sockets'
import * as ns from 'bun-sockets'

const server: TCPSocketListener<undefined> = listen({ hostname: '127.0.0.1', port: 0, socket: { data(s, d) { s.write(d) } } })
const client: Socket<undefined> = await connect({ hostname: '127.0.0.1', port: server.port, socket: { data() {} } })
client.end()
const viaDefault = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
viaDefault.stop(true)
const viaNamespace = ns.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
viaNamespace.stop(true)
const sock = await ns.default.udpSocket({})
sock.close()
const same: typeof udpSocket = Bun.udpSocket
void same
new ArrayBufferSink().write('x')
// @ts-expect-error: the ESM default export is the Bun-like object itself; it has no `default`.
Bun.default
server.stop(true)
