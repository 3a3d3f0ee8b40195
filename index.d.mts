// ESM typings of bun-sockets (`import … from 'bun-sockets'`): the same declarations as the
// CommonJS typings (index.d.ts), with the default export that index.mjs really has (the object
// itself, without the `default` that CommonJS adds).

import type { BunSockets } from './index.js'

export * from './index.js'

/** `import Bun from 'bun-sockets'`: `Bun.listen`, `Bun.connect`, `Bun.udpSocket`, `Bun.ArrayBufferSink`. */
declare const Bun: BunSockets
export default Bun
