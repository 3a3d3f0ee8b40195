// CommonJS: require() gives the exports object, whose `default` is the object itself.
import sockets = require('bun-sockets')

const server = sockets.listen({ hostname: '127.0.0.1', port: 0, socket: { data(s, d) { s.write(d) } } })
const again = sockets.default.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
again.stop(true)
void sockets.connect({ hostname: '127.0.0.1', port: server.port, socket: { data() {} } }).then((c) => c.end())
server.stop(true)
