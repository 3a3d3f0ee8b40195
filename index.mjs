// ESM entry: wraps the CommonJS module, so `import` and `require` share one instance (one native
// addon, one set of classes).
import cjs from './index.js'

export const { listen, connect, udpSocket, ArrayBufferSink } = cjs

// The subset of the `Bun` namespace this package provides: `import Bun from 'bun-sockets'`.
export default { listen, connect, udpSocket, ArrayBufferSink }
