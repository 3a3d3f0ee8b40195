// The polyfill from CommonJS.
import 'bun-sockets/polyfill'

const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
server.stop(true)
