// Bundles the agent into one file that runs with `node` alone: dist/ocdn-agent.cjs.
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('./src/main.ts', import.meta.url).pathname],
  outfile: new URL('./dist/ocdn-agent.cjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // ws loads these native accelerators only when present; the bundle runs without them.
  external: ['bufferutil', 'utf-8-validate'],
  banner: { js: '#!/usr/bin/env node' },
  sourcemap: false,
  // Whitespace and comments out, names kept (stack traces stay readable): V8 holds the whole source in memory, as
  // two bytes a character when a single comment has a character past ASCII — 4.5 MB of an idle agent's heap.
  minifyWhitespace: true,
  minifySyntax: true,
  charset: 'ascii',
  legalComments: 'none',
  logLevel: 'warning',
});
