import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import * as schema from './schema.ts';
import { preparedPglite } from './pglite-prepared.ts';
import { Lanes, withUrgentLane } from './pglite-lanes.ts';
import { ambient } from './ambient.ts';
import { keepFileSizes } from './pglite-sizes.ts';
import { preparedStatements } from './prepared.ts';
import { reconnectBackoff } from './reconnect.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/** What pg-boss needs to run its SQL on our connection (pg-boss's `db` option). */
export interface SqlExecutor {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

export interface Database {
  /** The database; inside a unit of work (db/ambient.ts) it is that unit's transaction. */
  db: Db;
  /**
   * The same database over connections of their own (PostgreSQL: two), for the few writes that must not queue behind
   * pipeline work on the main pool — a node found dead is `fault` at once, not after a rollout's statements. On PGlite
   * (one connection) it is the same connection, whose next turn goes to it (db/pglite-lanes.ts).
   */
  urgent: Db;
  /**
   * The same database for the pipeline engine's own bookkeeping — step outcomes, leases, a run's end, a domain's
   * state on a node — whose commits do not wait for the WAL flush (PostgreSQL: connections of their own with
   * `synchronous_commit = off`). Every one of those writes is announced to the console by a trigger's NOTIFY, and
   * PostgreSQL commits transactions that notified one at a time, holding a cluster-wide lock through the flush: a
   * 10,000-domain rollout spent most of the database's time waiting on that lock (`Lock:object`), each commit
   * with its own fsync. Without the wait the lock is held for microseconds. What this can lose is the last moments
   * of that bookkeeping if PostgreSQL itself crashes — never anything before a commit that was flushed (the WAL is
   * replayed in order), so never a change an admin was told about — and the engine redoes it: steps are idempotent
   * and an unfinished run resumes at its first step not recorded as done. On PGlite it is `db`.
   */
  bulk: Db;
  kind: 'pglite' | 'postgres';
  /**
   * PGlite: calls `hook` each time an operation of its one connection ends, before the code its answer sets going
   * (Lanes.between in db/pglite-lanes.ts) — where an urgent write it asks for starts at once. Returns a function that
   * removes it. Absent on PostgreSQL, whose urgent writes have connections of their own.
   */
  betweenOperations?: (hook: () => void) => () => void;
  /** PostgreSQL's connection string (for a thread that opens a connection of its own); undefined on PGlite. */
  url?: string;
  /** For pg-boss: either its own connection string (PostgreSQL) or an executor on our connection (PGlite). */
  boss: { connectionString: string } | { db: SqlExecutor };
  /**
   * Tries to take a cluster-wide lock (leader election, a replica's liveness): a PostgreSQL session advisory lock,
   * held on a connection of its own, so that it goes the moment this process or its connection dies. Returns the
   * lock, or null when another session holds it. On PGlite there is one process per directory: always ours.
   */
  tryLock(key: number): Promise<Lock | null>;
  /**
   * Calls `fn` with the payload of every NOTIFY on `channel` (from this process or any other on the database);
   * resolves once listening, to a function that stops it.
   */
  listen(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface Lock {
  release(): Promise<void>;
  /** Whether the lock is still held: false once the connection holding it is gone (then it is someone else's). */
  alive(): Promise<boolean>;
}

export type DatabaseOptions = ({ url: string } | { dataDir: string } | { memory: true }) & {
  /** PGlite's shared_buffers (e.g. `16MB`); PGlite's own is 128MB. */
  sharedBuffers?: string | undefined;
};

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if ('url' in opts) return openPostgres(opts.url);
  const wasmModule = await pgliteModule(opts.sharedBuffers ?? DEFAULT_SHARED_BUFFERS);
  if ('memory' in opts) return openPglite(await startPglite(new PGlite({ wasmModule })), async () => {});
  const dir = resolve(opts.dataDir);
  mkdirSync(dir, { recursive: true });
  const releaseLock = acquireDirLock(join(dir, 'manager.lock'));
  try {
    const pg = await startPglite(new PGlite(join(dir, 'pglite'), { wasmModule }));
    return openPglite(pg, async () => releaseLock());
  } catch (err) {
    releaseLock();
    throw err;
  }
}

/**
 * PGlite once it is ready, with drizzle's statements prepared (pglite-prepared.ts). PGlite runs no autovacuum, so its
 * tables never get statistics, and the generic plan PostgreSQL may switch a prepared statement to after five runs is
 * planned without the parameters' values. In the rollout benchmark (100 and 200 domains onto 50 agents) the three runs
 * that allowed generic plans all failed — the manager fell so far behind that its API reset connections — and the
 * two that did not finished. Every run is planned for its own values here, as an unprepared statement is; what
 * preparing saves is the parse and the calls into the backend.
 */
async function startPglite(pg: PGlite): Promise<PGlite> {
  await pg.waitReady;
  keepFileSizes(pg);
  await pg.exec('set plan_cache_mode = force_custom_plan');
  return preparedPglite(pg);
}

/**
 * The manager's PostgreSQL sessions plan for a database that sits in memory: a page read at random costs about what
 * one read in sequence does (1.1, the usual setting for SSDs and cached data; PostgreSQL's default 4 assumes spinning
 * disks). With 4, a rollout's batches of a few hundred keys were often joined to tables of tens of thousands of rows by
 * hashing the whole table (1,000 × 50: 615 sequential scans of `domain_nodes` reading 19 M rows and 486 of `pipelines`;
 * 243 and 8 with 1.1). In 400 × 50 alternated with the default (pg_stat_statements, two runs each): time in
 * statements 22.4 / 19.7 s against 36.8 / 42.5 s, PostgreSQL's CPU 17.3 / 16.3 s against 19.1 / 21.6 s. Not set on
 * PGlite, which has no statistics and was not measured better with it.
 */
const PLANNER_SETTINGS = { random_page_cost: '1.1' } as const;

/**
 * The bookkeeping pool's statements are batches — a few hundred rows in one JSON parameter, joined to tables that grow
 * through a rollout — and PostgreSQL's generic plan for such a prepared statement, made once after its fifth run, keeps
 * the table's size of that moment (`pipeline_steps` at 260 rows: a hash join over the whole table for every batch).
 * Each batch is planned for the table as it is; planning one costs far less than the scan it avoids.
 */
const BATCH_SETTINGS = { plan_cache_mode: 'force_custom_plan' } as const;

export const DEFAULT_SHARED_BUFFERS = '16MB';
const SHARED_BUFFERS_ARG = 'shared_buffers=128MB';

/**
 * PGlite's WebAssembly build starts PostgreSQL with `shared_buffers=128MB`, fixed in the module, and a WebAssembly
 * memory never shrinks: an idle manager held ~390 MiB, most of it buffers a control plane's database never fills.
 * The module is compiled here with that argument rewritten in place (same length, NUL-padded) to `size`. A PGlite
 * build without that exact argument is left as it is (undefined: PGlite loads its own).
 */
async function pgliteModule(size: string): Promise<PGliteOptions['wasmModule']> {
  const replacement = `shared_buffers=${size}`;
  if (!/^[0-9]+(kB|MB|GB)$/.test(size) || replacement.length > SHARED_BUFFERS_ARG.length) throw new Error(`PGlite shared_buffers: ${size} is not a size of at most 5 characters such as 16MB`);
  if (size === '128MB') return undefined;
  const bytes = readFileSync(new URL('./pglite.wasm', import.meta.resolve('@electric-sql/pglite')));
  const at = bytes.indexOf(SHARED_BUFFERS_ARG, 0, 'latin1');
  if (at < 0 || bytes.indexOf(SHARED_BUFFERS_ARG, at + 1, 'latin1') >= 0) return undefined;
  bytes.write(replacement.padEnd(SHARED_BUFFERS_ARG.length, '\0'), at, 'latin1');
  // (The project compiles without the DOM library, which declares WebAssembly.)
  return (globalThis as unknown as { WebAssembly: { compile(b: Uint8Array): Promise<PGliteOptions['wasmModule']> } }).WebAssembly.compile(bytes);
}

function openPglite(pg: PGlite, onClose: () => Promise<void>): Database {
  const orm = (client: PGlite) => ambient(drizzlePglite(client, { schema }) as unknown as Db);
  // withUrgentLane puts pg's own methods behind the gate too: both clients share it.
  const lanes = new Lanes();
  const urgent = orm(withUrgentLane(pg, lanes));
  const db = orm(pg);
  return {
    db,
    urgent,
    bulk: db,
    kind: 'pglite',
    betweenOperations: (hook) => lanes.between(hook),
    boss: {
      db: {
        async executeSql(text, values) {
          if (values && values.length > 0) return pg.query(text, values as any[]);
          // pg-boss sends multi-statement scripts without parameters; exec runs them in one round.
          const results = await pg.exec(text);
          return results[results.length - 1] ?? { rows: [] };
        },
      },
    },
    async tryLock() {
      return { release: async () => {}, alive: async () => true };
    },
    async listen(channel, fn) {
      return pg.listen(channel, fn);
    },
    async close() {
      await pg.close();
      await onClose();
    },
  };
}

/** What every pool of the manager's sets: notices unlogged, and a reconnect within a second (db/reconnect.ts). */
const POOL = { onnotice: () => {}, backoff: reconnectBackoff } as const;

function openPostgres(url: string): Database {
  const client = postgres(url, { ...POOL, max: 10, idle_timeout: 30, connection: PLANNER_SETTINGS });
  // Advisory locks live on connections of their own that are never recycled: a session lock ends with its session,
  // and the main pool closes connections when they idle or age (postgres.js's max_lifetime).
  const locks = postgres(url, { ...POOL, max: 10, idle_timeout: 60, max_lifetime: null, keep_alive: 10 });
  const base = drizzlePostgres(preparedStatements(client), { schema }) as unknown as Db;
  const db = ambient(base);
  const urgentClient = postgres(url, { ...POOL, max: 2, idle_timeout: 30, connection: PLANNER_SETTINGS });
  const urgent = ambient(drizzlePostgres(preparedStatements(urgentClient), { schema }) as unknown as Db);
  const bulkClient = postgres(url, { ...POOL, max: 6, idle_timeout: 30, connection: { ...PLANNER_SETTINGS, ...BATCH_SETTINGS, synchronous_commit: 'off' } });
  const bulk = ambient(drizzlePostgres(preparedStatements(bulkClient), { schema }) as unknown as Db);
  return {
    db,
    urgent,
    bulk,
    kind: 'postgres',
    url,
    boss: { connectionString: url },
    async tryLock(key) {
      const conn = await locks.reserve();
      let session: number;
      try {
        const [row] = await conn<{ ok: boolean; pid: number }[]>`select pg_try_advisory_lock(${key}) as ok, pg_backend_pid() as pid`;
        if (!row?.ok) {
          conn.release();
          return null;
        }
        session = row.pid;
      } catch (err) {
        conn.release();
        throw err;
      }
      let gone = false;
      return {
        async release() {
          if (gone) return;
          gone = true;
          // Unlocked on the lock's own session only; a connection reconnected since is another holder's (alive()).
          const [row] = await conn<{ pid: number }[]>`select pg_backend_pid() as pid, case when pg_backend_pid() = ${session} then pg_advisory_unlock(${key}) end`;
          if (row?.pid === session) conn.release();
        },
        async alive() {
          if (gone) return false;
          // The lock's session answers, or it ended and the lock went with it (a dead session's locks are released).
          // The session, not the connection: postgres.js hands a closed connection to the next reserve() and
          // reconnects it, and a query of this lock's then ran on that other holder's new session — after a database
          // restart a leader went on leading with no lock held. No timer races the answer: after a stall of this
          // process the timer would win while the answer waits unread, and a lock still held would be taken for lost
          // — held by nobody who knows it. A connection that hangs is ended by TCP keepalive.
          const same = await conn<{ pid: number }[]>`select pg_backend_pid() as pid`.then(
            ([row]) => row?.pid === session,
            () => false,
          );
          // (A lost lock's connection is not released: postgres.js would hand the dead one to the pool as open, and
          // a reconnected one is another holder's now.)
          if (!same) gone = true;
          return same;
        },
      };
    },
    async listen(channel, fn) {
      // postgres.js listens on a connection of its own and listens again after reconnecting.
      const { unlisten } = await client.listen(channel, fn);
      return unlisten;
    },
    async close() {
      await Promise.all([client.end({ timeout: 5 }), urgentClient.end({ timeout: 5 }), bulkClient.end({ timeout: 5 }), locks.end({ timeout: 5 })]);
    },
  };
}

/**
 * One manager process per PGlite directory: a lock file holding the owner's pid. A lock left by a dead process is
 * taken over; a live owner makes this start fail with a message that says what to do.
 */
function acquireDirLock(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new Error(
          `another manager (pid ${pid}) is using the data directory ${resolve(path, '..')}; ` +
            `stop it first, or use another OCDN_DATA_DIR (or DATABASE_URL for several replicas)`,
        );
      }
      rmSync(path, { force: true }); // stale lock of a dead process
    }
  }
  throw new Error(`could not take the lock file ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
