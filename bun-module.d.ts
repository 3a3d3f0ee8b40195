// The module "bun" as this package provides it (`listen`, `connect`, `udpSocket`,
// `ArrayBufferSink`), for code that imports from 'bun' with the module mapped to bun-sockets
// (Jest, Vitest, node --test recipes in the README). Pulled in by the polyfill's typings.
//
// An ambient declaration: with bun-types installed, it merges with bun-types' own module "bun",
// whose explicit exports take precedence over this `export *`, so nothing conflicts.

declare module 'bun' {
  export * from 'bun-sockets'
}
