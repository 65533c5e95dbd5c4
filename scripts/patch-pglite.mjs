#!/usr/bin/env node
// Runs after `npm install` (the root package's postinstall). @electric-sql/pglite 0.3.x copies its whole parser
// table (316 entries) into a new object for every query result (`{...parsers, ...options?.parsers}`), about 0.12 ms
// of CPU per statement on this project's machines — a third of what a small INSERT costs in all. drizzle passes
// parsers of its own with every query, so skipping the copy when a query brings none (what PGlite 0.5 does) is not
// enough: the query's few parsers go into a small object whose prototype is the table (a lookup that misses the
// query's own parsers finds the table's, as with the copy). (0.5 is a newer PostgreSQL whose data directories 0.3
// cannot open, so upgrading is a migration of its own.) Idempotent, also over this script's earlier patch; says what
// it did.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const MARK = '/*ocdn:parsers2*/';
// `u={...r,...t?.parsers}` in the minified result parser; the names differ between the ESM and CJS builds.
const FROM = /([A-Za-z_$][\w$]{0,2})=\{\.\.\.([A-Za-z_$][\w$]{0,2}),\.\.\.([A-Za-z_$][\w$]{0,2})\?\.parsers\}/g;
// What the first version of this script made of it.
const EARLIER = /([A-Za-z_$][\w$]{0,2})=\/\*ocdn:parsers\*\/([A-Za-z_$][\w$]{0,2})\?\.parsers\?\{\.\.\.([A-Za-z_$][\w$]{0,2}),\.\.\.[A-Za-z_$][\w$]{0,2}\.parsers\}:[A-Za-z_$][\w$]{0,2}/g;
const patch = (out, base, opts) => `${out}=${MARK}${opts}?.parsers?Object.assign(Object.create(${base}),${opts}.parsers):${base}`;

const here = dirname(new URL(import.meta.url).pathname);
const roots = [join(here, '../node_modules/@electric-sql/pglite'), join(here, '../apps/manager/node_modules/@electric-sql/pglite')].filter((d) => existsSync(join(d, 'package.json')));
if (roots.length === 0) {
  console.log('patch-pglite: @electric-sql/pglite is not installed; nothing to do');
  process.exit(0);
}
const walk = (dir) => readdirSync(dir).flatMap((name) => {
  const path = join(dir, name);
  return statSync(path).isDirectory() ? walk(path) : /\.(c?js)$/.test(name) ? [path] : [];
});
let patched = 0;
let fine = 0;
for (const root of roots) {
  for (const f of walk(join(root, 'dist'))) {
    const text = readFileSync(f, 'utf8');
    if (text.includes(MARK)) {
      fine++;
      continue;
    }
    const next = text.replace(FROM, (_, out, base, opts) => patch(out, base, opts)).replace(EARLIER, (_, out, opts, base) => patch(out, base, opts));
    if (next === text) continue;
    writeFileSync(f, next);
    patched++;
  }
}
console.log(`patch-pglite: ${patched} file(s) patched, ${fine} already fine`);
