// The postgres driver as scripts/patch-postgres.mjs leaves it (run by `npm install`): a turn's statements to one
// connection leave in one write, and a connection torn down while a write waits for that flush still works after it
// reconnects. Needs PostgreSQL.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import postgres from 'postgres';

/** A client of one connection whose sockets this test holds, counting the writes made on them. */
function client(url: string) {
  const u = new URL(url);
  const seen = { writes: 0, socket: null as Socket | null };
  // `socket` is a documented option of postgres.js that its types leave out.
  const options = {
    max: 1,
    connect_timeout: 3,
    onnotice: () => {},
    socket: () => {
      const s = connect(Number(u.port || 5432), u.hostname);
      const write = s.write.bind(s) as (...a: unknown[]) => boolean;
      s.write = ((...a: unknown[]) => {
        seen.writes++;
        return write(...a);
      }) as Socket['write'];
      seen.socket = s;
      return s;
    },
  };
  const sql = postgres(url, options);
  return { sql, seen };
}

describe('the postgres driver (patched)', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL (PostgreSQL)' }, () => {
  const url = process.env.TEST_DATABASE_URL!;

  it("sends a turn's statements to one connection in one write, not one write per statement over 1 KiB", async () => {
    const { sql, seen } = client(url);
    try {
      const probe = (i: number) => sql`select length(${'x'.repeat(3000)}::text) as n, ${i}::int as i`;
      await probe(-1); // prepared once, as the manager's statements are after their first run
      const before = seen.writes;
      // Ten statements of ~3 KiB each, made in one turn (as a rollout's batches are).
      const rows = await Promise.all(Array.from({ length: 10 }, (_, i) => probe(i)));
      assert.deepEqual(rows.map((r) => [r[0]!.n, r[0]!.i]), Array.from({ length: 10 }, (_, i) => [3000, i]));
      assert.equal(seen.writes - before, 1, 'writes for ten statements');
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('answers on a connection that was torn down while a write waited for its flush', async () => {
    const { sql, seen } = client(url);
    try {
      await sql`select 1`;
      // In an immediate, a statement's write waits for the next turn's flush; the socket closes in this turn's
      // close phase, before that flush.
      const lost = new Promise<unknown>((resolve) =>
        setImmediate(() => {
          sql`select 2`.execute().then(resolve, resolve);
          seen.socket!.destroy();
        }),
      );
      const err = (await lost) as { code?: string };
      assert.equal(err.code, 'CONNECTION_CLOSED', 'the statement whose connection closed fails with it');
      await nextTurn();
      // The driver connects again; the dead session's flush and bytes must not hold up or precede the new one.
      const [row] = await sql`select 3 as n`;
      assert.equal(row!.n, 3);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it("refuses a closed transaction's statements and its commit, rather than running them in another transaction", async () => {
    // One connection: the transaction that dies and the one after it share it, as they do in a busy pool.
    const sql = postgres(url, { max: 1, onnotice: () => {}, backoff: () => 0.01 });
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    const table = `ocdn_zombie_${process.pid}`;
    try {
      await admin.unsafe(`create table if not exists ${table} (who text)`);
      let pid: number | undefined;
      let resume!: () => void;
      const paused = new Promise<void>((r) => (resume = r));
      let late: Promise<unknown> | undefined;
      // A: its callback awaits other work while its session is ended, then goes on.
      const a = sql.begin(async (t) => {
        pid = (await t`select pg_backend_pid() as pid`)[0]!.pid as number;
        await paused;
        late = t.unsafe(`insert into ${table} values ('A, after its session ended')`).execute();
        await late;
      });
      const aEnded = a.then(() => null, (e: unknown) => e);
      while (pid === undefined) await nextTurn();
      await admin`select pg_terminate_backend(${pid})`;
      assert.ok(await aEnded, 'A fails with its connection');
      // B opens on the connection made again, writes, and waits: what A does now must not land in B.
      let bWrote!: () => void;
      const wrote = new Promise<void>((r) => (bWrote = r));
      let finishB!: (fail: boolean) => void;
      const bDecides = new Promise<boolean>((r) => (finishB = r));
      const b = sql.begin(async (t) => {
        await t.unsafe(`insert into ${table} values ('B')`);
        bWrote();
        if (await bDecides) throw new Error('B rolls back');
      });
      await wrote;
      resume();
      while (!late) await nextTurn();
      const lateErr = (await late.then(() => null, (e: unknown) => e)) as { code?: string } | null;
      assert.equal(lateErr?.code, 'CONNECTION_CLOSED', "A's statement after its connection closed is refused");
      finishB(true);
      await assert.rejects(b, /B rolls back/);
      const rows = await admin.unsafe(`select who from ${table}`);
      assert.deepEqual(rows.map((r) => r.who), [], 'nothing of A after its end, and nothing of B (A did not commit it)');
    } finally {
      await admin.unsafe(`drop table if exists ${table}`).catch(() => {});
      await Promise.all([sql.end({ timeout: 5 }), admin.end({ timeout: 5 })]);
    }
  });
});
