'use strict'
// UDP ping: a pong socket answers each datagram; the ping socket measures round trips.
//   node examples/udp-ping.js [count]

const { udpSocket } = require('..')

async function main() {
  const count = Number(process.argv[2] ?? 5)
  const pong = await udpSocket({
    hostname: '127.0.0.1',
    socket: {
      data(socket, data, port, address) {
        socket.send(data, port, address)
      },
    },
  })
  const sentAt = new Map()
  let answered = 0
  const ping = await udpSocket({
    hostname: '127.0.0.1',
    socket: {
      data(socket, data) {
        const seq = data.readUInt32BE(0)
        const ms = (performance.now() - sentAt.get(seq)).toFixed(3)
        console.log(`pong ${seq} from 127.0.0.1:${pong.port} in ${ms} ms`)
        if (++answered === count) {
          ping.close()
          pong.close()
        } else {
          send(seq + 1)
        }
      },
    },
  })
  function send(seq) {
    const payload = Buffer.alloc(8)
    payload.writeUInt32BE(seq, 0)
    sentAt.set(seq, performance.now())
    ping.send(payload, pong.port, '127.0.0.1')
  }
  console.log(`ping ${count} datagrams: 127.0.0.1:${ping.port} -> 127.0.0.1:${pong.port}`)
  send(0)
}

main()
