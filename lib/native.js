'use strict'
// Loads the native addon through the napi-rs loader (binding.js); when that fails, throws an error
// that says what to do (lib/load-error.js).

function load() {
  try {
    return require('../binding')
  } catch (err) {
    throw require('./load-error').loadError(err)
  }
}

module.exports = load()
