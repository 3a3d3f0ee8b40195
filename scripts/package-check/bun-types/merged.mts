// The polyfill with bun-types installed: Bun keeps bun-types' whole API (Bun.sleep, Bun.file),
// and the socket calls type-check against bun-types' declarations.
import 'bun-sockets/polyfill'

const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data(s, d) { s.write(d) } } })
await Bun.sleep(1)
const file: Bun.BunFile = Bun.file('package.json')
void file
server.stop(true)
