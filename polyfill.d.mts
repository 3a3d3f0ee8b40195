// Typings of `import 'bun-sockets/polyfill'`: the global `Bun` with `listen`, `connect`,
// `udpSocket` and `ArrayBufferSink`.
//
// `Bun` is an alias of the module "bun", as bun-types declares it. Without bun-types, that module
// is this package's (bun-module.d.ts). With bun-types, both files declare the same alias of the
// same merged module, so `Bun` keeps all of bun-types' members (Bun.file, Bun.sleep, …); the
// duplicate alias is then an error inside the declaration files only, which `skipLibCheck`
// (needed by bun-types 1.4.4 anyway) hides.

/// <reference path="./bun-module.d.ts" />

import * as BunModule from 'bun'

declare global {
  // @ts-ignore: bun-types declares this same alias.
  export import Bun = BunModule
}

export {}
