#!/usr/bin/env node
/**
 * npm run bundle: the whole relay as one JavaScript file, dist/bundle/relay.mjs,
 * for the container image and `make rootfs` (no node_modules needed at run time).
 * ESM (main.ts uses top-level await); CommonJS dependencies get a `require`.
 */
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const outfile = new URL('../dist/bundle/relay.mjs', import.meta.url).pathname;

const result = await build({
  entryPoints: [new URL('../src/main.ts', import.meta.url).pathname],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: true,
  legalComments: 'linked',
  metafile: true,
  define: { __NPCHAT_VERSION__: JSON.stringify(version) },
  banner: {
    js: "import { createRequire as __npchatCreateRequire } from 'node:module'; const require = __npchatCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
const bytes =
  result.metafile.outputs[Object.keys(result.metafile.outputs).find((o) => o.endsWith('relay.mjs'))]
    .bytes;
console.log(`bundle: ${outfile} (${(bytes / 1024).toFixed(0)} KiB, version ${version})`);
