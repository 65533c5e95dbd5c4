#!/usr/bin/env node
// Runs after `npm install` (the root package's postinstall). Five bugs of postgres@3.4.x (the `postgres` driver) that
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
// 4. A reserve() waiting for a connection is stranded when one of the pool's connections closes (porsager/postgres
//    #1195): the close hands the first waiting query to that connection's reconnect, which drops a reserve (a reserve
//    is served from the queue once a connection opens, and this one was taken out of it). Its promise never settled:
//    after a database restart a leader's try for its lock waited forever. Now a reserve stays first in the queue
//    while the connection reconnects, and one that fails (the database still away) leaves the queue as it rejects
//    — before, a rejected reserve left in it was handed the next connection that opened, which nobody held again.
//
// 5. A transaction whose connection closes rejects its sql.begin() (a race with the close), but its callback runs on
//    (porsager/postgres#1186, #1216; fix proposed in #1215): statements it had queued behind a pipelined one never
//    settled, and what it did next went to the same connection once the pool had opened it again — into whatever
//    ran there then, another transaction included, whose work the dead one's COMMIT or ROLLBACK would then end.
//    A manager's request or pipeline step meeting a PostgreSQL restart mid-transaction can do exactly that. Now
//    the close is remembered: the queued statements fail with it, and every later one of that transaction (its
//    COMMIT or ROLLBACK too) fails at once. The callback's own end, which nobody awaits any more, is not reported
//    as an unhandled rejection.
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
    file: 'queue.js',
    mark: 'ocdn: peek',
    from: `    push: (x) => (xs.push(x), x),`,
    to: `    push: (x) => (xs.push(x), x),
    peek: () => xs[index], // ocdn: peek (porsager/postgres#1195)`,
  },
  {
    file: 'index.js',
    mark: 'ocdn: a waiting reserve stays queued',
    from: `    queries.length && connect(c, queries.shift())`,
    to: `    queries.length && connect(c, queries.peek().reserve ? queries.peek() : queries.shift()) // ocdn: a waiting reserve stays queued (porsager/postgres#1195)`,
  },
  {
    file: 'index.js',
    mark: 'ocdn: a rejected reserve leaves the queue',
    from: `        const query = { reserve: resolve, reject }`,
    to: `        const query = { reserve: resolve, reject: (e) => (queries.remove(query), reject(e)) } // ocdn: a rejected reserve leaves the queue`,
  },
  {
    file: 'index.js',
    mark: 'ocdn: a closed transaction is remembered',
    from: `    const queries = Queue()
    let savepoints = 0`,
    to: `    const queries = Queue()
    let closedWith = null // ocdn: a closed transaction is remembered (porsager/postgres#1186, #1215)
    let savepoints = 0`,
  },
  {
    file: 'index.js',
    mark: 'ocdn: a closed transaction fails what waits',
    from: `      return await Promise.race([
        scope(connection, fn),
        new Promise((_, reject) => connection.onclose = reject)
      ])`,
    to: `      const scoped = scope(connection, fn) // ocdn: a closed transaction fails what waits
      scoped.catch(() => { /* the race below reports it; once the connection closed, nobody waits for it */ })
      return await Promise.race([
        scoped,
        new Promise((_, reject) => connection.onclose = (e) => {
          closedWith = e || Object.assign(new Error('CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' })
          while (queries.length)
            queries.shift().reject(closedWith)
          reject(closedWith)
        })
      ])`,
  },
  {
    file: 'index.js',
    mark: 'ocdn: a closed transaction refuses its statements',
    from: `        q.catch(e => uncaughtError || (uncaughtError = e))
        c.queue === full`,
    to: `        q.catch(e => uncaughtError || (uncaughtError = e))
        if (closedWith) // ocdn: a closed transaction refuses its statements
          return q.reject(closedWith)
        c.queue === full`,
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
// Each patch's file (connection.js unless it says) in each of the package's builds: ESM, CommonJS, Cloudflare.
const names = [...new Set(PATCHES.map((p) => p.file ?? 'connection.js'))];
const files = roots.flatMap((root) => ['src', 'cjs/src', 'cf/src'].flatMap((dir) => names.map((name) => join(root, dir, name)))).filter((f) => existsSync(f));
let patched = 0;
let fine = 0;
for (const f of files) {
  let text = readFileSync(f, 'utf8');
  const before = text;
  for (const p of PATCHES.filter((x) => f.endsWith(`/${x.file ?? 'connection.js'}`))) {
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
