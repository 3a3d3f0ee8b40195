export default {
  testEnvironment: 'node',
  testMatch: ['**/*.test.mjs'],
  transform: {},
  moduleNameMapper: { '^bun$': 'bun-sockets' },
}
