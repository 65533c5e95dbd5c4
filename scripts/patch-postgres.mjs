#!/usr/bin/env node
// Runs after `npm install` (the root package's postinstall). postgres@3.4.x (the `postgres` driver) crashes the
// whole process with "TypeError: Cannot read properties of null (reading 'write')" when a connection closes while
// a write is pending (porsager/postgres#1154, #1208; fixes proposed in #1168, #1209, not released). A database
// restart triggers it: the manager died where it should have waited for its database. This adds the guard those
// pull requests propose: a write on a closed connection fails its queries with CONNECTION_CLOSED (which the manager
// treats as "database unavailable") instead of throwing from a timer. Idempotent; says so when there is nothing to do.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const MARK = 'ocdn: guard against a closed socket';
const FROM = 'function nextWrite(fn) {\n    const x = socket.write(chunk, fn)';
const TO = `function nextWrite(fn) {
    if (!socket) { // ${MARK} (porsager/postgres#1208)
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options))
      return false
    }
    const x = socket.write(chunk, fn)`;

const here = dirname(new URL(import.meta.url).pathname);
const roots = [join(here, '../node_modules/postgres'), join(here, '../apps/manager/node_modules/postgres')].filter((d) => existsSync(join(d, 'package.json')));
if (roots.length === 0) {
  console.log('patch-postgres: the postgres package is not installed; nothing to do');
  process.exit(0);
}
const files = roots.flatMap((root) => ['src/connection.js', 'cjs/src/connection.js', 'cf/src/connection.js'].map((f) => join(root, f))).filter((f) => existsSync(f));
let patched = 0;
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  if (text.includes(MARK)) continue;
  if (!text.includes(FROM)) {
    console.warn(`patch-postgres: ${f} has no unguarded nextWrite (a fixed release?); left as it is`);
    continue;
  }
  writeFileSync(f, text.replace(FROM, TO));
  patched++;
}
console.log(`patch-postgres: ${patched} file(s) patched, ${files.length - patched} already fine`);
