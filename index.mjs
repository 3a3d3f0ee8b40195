// ESM entry: wraps the CommonJS module, so `import` and `require` share one instance (one native
// addon, one set of classes). Loaded with createRequire rather than `import './index.js'`: on
// Node 18 and 20, a failed ESM import of a CommonJS module that throws while loading exits the
// process with code 1 even when the importer catches the error.
import { createRequire } from 'node:module'

const cjs = createRequire(import.meta.url)('./index.js')

export const { listen, connect, udpSocket, ArrayBufferSink } = cjs

// The subset of the `Bun` namespace this package provides: `import Bun from 'bun-sockets'`.
export default { listen, connect, udpSocket, ArrayBufferSink }
