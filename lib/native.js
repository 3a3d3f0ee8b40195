'use strict'
// Loads the native addon, with an error that says what to do when no binary fits.

const SUPPORTED = ['linux-x64-gnu']

function load() {
  try {
    return require('../binding')
  } catch (err) {
    const platform = `${process.platform}-${process.arch}`
    const message =
      `bun-sockets: no native binary for ${platform} (Node ${process.versions.node}).\n` +
      `Prebuilt binaries exist for: ${SUPPORTED.join(', ')}.\n` +
      'To build from source, install Rust (https://rustup.rs) and run `npm run build` in the ' +
      'bun-sockets package directory.\n' +
      `Loader error: ${err && err.message}`
    const error = new Error(message, { cause: err })
    error.code = 'ERR_BUN_SOCKETS_NO_BINARY'
    throw error
  }
}

module.exports = load()
