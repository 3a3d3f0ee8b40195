import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: { alias: { bun: 'bun-sockets' } },
  test: { include: ['**/*.test.mjs'] },
})
