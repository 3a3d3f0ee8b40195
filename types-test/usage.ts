// Compiled with `tsc --noEmit --strict` in CI: the public typings accept Bun-style code.
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
    },
  })
  const sent: boolean = sock.send('ping', sock.port, '127.0.0.1')
  const many: number = sock.sendMany(['a', sock.port, '127.0.0.1'])
  void [sent, many]
  const connected: udp.ConnectedSocket<'buffer'> = await udpSocket({ connect: { hostname: '127.0.0.1', port: 9 } })
  connected.send('x')
  connected.close()
  sock.close()
}

void client()
void datagrams()
