'use strict'
// Bun throws this for write(string, offset, length) mixed with an encoding.
class TodoError extends Error {
  constructor() {
    super('Support encoding with offset and length altogether. Only either encoding or offset, length is supported, but not both combinations yet.')
    this.name = 'TODOError'
  }
}
module.exports = { TodoError }
