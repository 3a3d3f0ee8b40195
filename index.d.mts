// ESM typings of bun-sockets (`import … from 'bun-sockets'`): the same declarations as the
// CommonJS typings (index.d.ts), with the default export that index.mjs really has.

import type { ArrayBufferSink, connect, listen, udpSocket } from './index.js'

export * from './index.js'

/**
 * The part of Bun's `Bun` namespace this package provides, as `import Bun from 'bun-sockets'`
 * gives it: `Bun.listen`, `Bun.connect`, `Bun.udpSocket`, `Bun.ArrayBufferSink`.
 */
declare const Bun: {
  /** Same as the named export {@link listen}. */
  listen: typeof listen
  /** Same as the named export {@link connect}. */
  connect: typeof connect
  /** Same as the named export {@link udpSocket}. */
  udpSocket: typeof udpSocket
  /** Same as the named export {@link ArrayBufferSink}. */
  ArrayBufferSink: typeof ArrayBufferSink
}
export default Bun
