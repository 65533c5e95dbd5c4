// Builds the manager into dist/main.js, and its threads beside it: the built-in DNS's (dist/dns-worker.js) and the
// health watch's (dist/watch-worker.js, and dist/watch-writer.js, which it loads on PostgreSQL only). npm packages
// stay external (PGlite ships wasm files, pg-boss its own SQL); the workspace's own packages, which are TypeScript
// sources, are bundled in.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const external = Object.keys(pkg.dependencies).filter((name) => !name.startsWith('@ocdn/'));

await build({
  entryPoints: {
    main: new URL('./src/main.ts', import.meta.url).pathname,
    'dns-worker': new URL('./src/dns/worker.ts', import.meta.url).pathname,
    'watch-worker': new URL('./src/nodes/watch-worker.ts', import.meta.url).pathname,
    'watch-writer': new URL('./src/nodes/watch-writer.ts', import.meta.url).pathname,
  },
  outdir: new URL('./dist', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: [...external, ...external.map((name) => `${name}/*`)],
  sourcemap: 'linked',
  logLevel: 'warning',
});
