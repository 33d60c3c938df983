#!/usr/bin/env node
/**
 * npm run bundle: the whole relay as one JavaScript file, dist/bundle/relay.mjs,
 * for the container image and `make rootfs` (no node_modules needed at run time).
 * ESM (main.ts uses top-level await); CommonJS dependencies get a `require`.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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

// /docs serves Swagger UI's assets from next to the bundle (src/http/docs.ts).
const swagger = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const docs = join(dirname(outfile), 'docs');
mkdirSync(docs, { recursive: true });
for (const name of [
  'swagger-ui-bundle.js',
  'swagger-ui-bundle.js.LICENSE.txt',
  'swagger-ui.css',
  'LICENSE',
  'NOTICE',
]) {
  copyFileSync(join(swagger, name), join(docs, name));
}
console.log(`bundle: ${docs} (Swagger UI for /docs)`);
