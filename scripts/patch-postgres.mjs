#!/usr/bin/env node
// Runs after `npm install` (the root package's postinstall). Three bugs of postgres@3.4.x (the `postgres` driver) that
// the manager meets, patched in place with the fixes their pull requests and reports propose (not released), and one
// change of tuning (below them):
//
// 1. A connection closing while a write is pending crashes the whole process with "TypeError: Cannot read
//    properties of null (reading 'write')" (porsager/postgres#1154, #1208; fixes in #1168, #1209). A database
//    restart triggered it. Now a write on a closed connection fails its queries with CONNECTION_CLOSED (which the
//    manager treats as "database unavailable") instead of throwing from a timer.
// 2. sql.begin() can send BEGIN without reserving its connection (porsager/postgres#823, #1189; fixes in #1211,
//    #1218): the hook that reserves it ran last in a chain of "may the pool pipeline more here" terms, skipped when
//    the BEGIN filled the connection's pipeline or the socket pushed back. The transaction then failed with
//    UNSAFE_TRANSACTION — or, worse, stayed open on the server while the pool handed its connection to unrelated
//    queries. With statements prepared and pipelined (db/prepared.ts) a manager under load met it (a run's
//    executor crashed at 5,000 agents). Now the hook runs whenever the query was handed to the connection.
// 3. A connection torn down while a write waits for its turn's flush keeps the cancelled flush's handle and the
//    unsent bytes (LanternOps/breeze#3225): no later write of that connection schedules a flush again, and the dead
//    session's bytes would go first on the next one. Now teardown drops both (their queries fail with it).
//
// And one change of tuning: the driver writes a message at once when what waits reaches 1 KiB, else at the end of
// the turn. A rollout's statements are mostly over 1 KiB, so each was a write of its own, and on a busy machine each
// write to a local socket also runs the receiving side's TCP work and wakes PostgreSQL. Collected up to 64 KiB, a
// turn's statements to one connection leave in one write: in 1,000 domains onto 50 agents the manager's CPU fell by a
// fifth, PostgreSQL's too (docs/benchmarks.md).
//
// Idempotent; says what it did.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const PATCHES = [
  {
    mark: 'ocdn: guard against a closed socket',
    from: 'function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    to: `function nextWrite(fn) {
    if (!socket) { // ocdn: guard against a closed socket (porsager/postgres#1208)
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options))
      return false
    }
    const x = socket.write(chunk, fn)`,
  },
  {
    mark: 'ocdn: reserve before the pipeline terms',
    from: `      return write(toBuffer(q))
        && !q.describeFirst
        && !q.cursorFn
        && sent.length < max_pipeline
        && (!q.options.onexecute || q.options.onexecute(connection))`,
    // A reserving query (BEGIN) answers false, as the hook's own undefined did: nothing else is pipelined onto it.
    to: `      const written = write(toBuffer(q)) // ocdn: reserve before the pipeline terms (porsager/postgres#1189)
      if (q.options.onexecute)
        return q.options.onexecute(connection), false
      return written
        && !q.describeFirst
        && !q.cursorFn
        && sent.length < max_pipeline`,
  },
  {
    mark: 'ocdn: teardown drops the pending write (terminate)',
    from: `    clearImmediate(nextWriteTimer)
    if (socket) {`,
    to: `    clearImmediate(nextWriteTimer)
    chunk = nextWriteTimer = null // ocdn: teardown drops the pending write (terminate)
    if (socket) {`,
  },
  {
    mark: 'ocdn: teardown drops the pending write (closed)',
    from: `    clearImmediate(nextWriteTimer)
    socket.removeListener('data', data)`,
    to: `    clearImmediate(nextWriteTimer)
    chunk = nextWriteTimer = null // ocdn: teardown drops the pending write (closed)
    socket.removeListener('data', data)`,
  },
  {
    mark: 'ocdn: a turn\'s writes leave together',
    from: `    if (fn || chunk.length >= 1024)`,
    to: `    if (fn || chunk.length >= 65536) // ocdn: a turn's writes leave together (up to 64 KiB)`,
  },
];

const here = dirname(new URL(import.meta.url).pathname);
const roots = [join(here, '../node_modules/postgres'), join(here, '../apps/manager/node_modules/postgres')].filter((d) => existsSync(join(d, 'package.json')));
if (roots.length === 0) {
  console.log('patch-postgres: the postgres package is not installed; nothing to do');
  process.exit(0);
}
const files = roots.flatMap((root) => ['src/connection.js', 'cjs/src/connection.js', 'cf/src/connection.js'].map((f) => join(root, f))).filter((f) => existsSync(f));
let patched = 0;
let fine = 0;
for (const f of files) {
  let text = readFileSync(f, 'utf8');
  const before = text;
  for (const p of PATCHES) {
    if (text.includes(p.mark)) {
      fine++;
      continue;
    }
    if (!text.includes(p.from)) {
      console.warn(`patch-postgres: ${f} does not have the code "${p.mark}" patches (a fixed release?); left as it is`);
      continue;
    }
    text = text.replace(p.from, p.to);
    patched++;
  }
  if (text !== before) writeFileSync(f, text);
}
console.log(`patch-postgres: ${patched} patch(es) applied, ${fine} already in place, over ${files.length} file(s)`);
