'use strict'
// The one line a Jest user adds: the `bun` module is bun-sockets.
module.exports = {
  testEnvironment: 'node',
  moduleNameMapper: { '^bun$': process.env.BUN_SOCKETS_PATH ?? 'bun-sockets' },
}
