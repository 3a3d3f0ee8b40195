// node --import ./bun-hook.mjs --test: `import … from 'bun'` loads bun-sockets.
import { register } from 'node:module'

register('./bun-resolve.mjs', import.meta.url)
