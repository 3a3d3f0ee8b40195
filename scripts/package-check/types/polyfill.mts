// The polyfill without bun-types: the global Bun has what the package provides, and no more.
import 'bun-sockets/polyfill'
import { connect } from 'bun'

const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data(s, d) { s.write(d) } } })
await connect({ hostname: '127.0.0.1', port: server.port, socket: { data() {} } })
new Bun.ArrayBufferSink().end()
// @ts-expect-error: Bun.sleep is not provided without bun-types
Bun.sleep(1)
server.stop(true)
