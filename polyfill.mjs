// import 'bun-sockets/polyfill': the same as require('bun-sockets/polyfill'), which it runs
// (through createRequire, for the reason given in index.mjs).
import { createRequire } from 'node:module'

createRequire(import.meta.url)('./polyfill.js')
