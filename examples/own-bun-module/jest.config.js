'use strict'
module.exports = {
  testEnvironment: 'node',
  moduleNameMapper: { '^bun$': '<rootDir>/bun.js' },
  setupFiles: ['<rootDir>/bun.js'],
}
