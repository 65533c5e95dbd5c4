// Database.tryLock on PostgreSQL (leader election, a replica's liveness) when a lock's session ends under it, as in a
// database restart: the lock says so, and a try for another lock that was waiting for a connection meanwhile gets
// one. Needs PostgreSQL.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import postgres from 'postgres';
import { createTestDatabase } from '../../../../test/support/db.ts';
import { waitFor } from '../../../../test/support/wait.ts';
import type { Lock } from './client.ts';

/** The locks pool's size in openPostgres: this many locks held at once fill it. */
const POOL = 10;

describe('advisory locks when a session ends', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL (PostgreSQL)' }, () => {
  it('a try waiting for a connection gets the closed one, and the lock whose session ended says it is gone', async () => {
    const tdb = await createTestDatabase('postgres');
    const database = await tdb.open();
    const other = await tdb.open();
    const admin = postgres(tdb.url!, { max: 1, onnotice: () => {} });
    try {
      const base = 7_000 + Math.floor(Math.random() * 1_000_000);
      const held: Lock[] = [];
      for (let i = 0; i < POOL; i++) {
        const lock = await database.tryLock(base + i);
        assert.ok(lock, `lock ${i} taken`);
        held.push(lock);
      }
      // The pool is full: this try waits for a connection.
      const waiting = database.tryLock(base + POOL);
      const settled = { done: false };
      void waiting.finally(() => (settled.done = true));
      // The first lock's session ends (as in a restart, or pg_terminate_backend by an operator).
      const [victim] = await admin<{ pid: number }[]>`
        select pid from pg_locks
        where locktype = 'advisory' and objsubid = 1 and ((classid::bigint << 32) | objid::bigint) = ${base}`;
      assert.ok(victim, 'the first lock is in pg_locks');
      await admin`select pg_terminate_backend(${victim.pid})`;
      // Before the driver's patch the waiting try was handed to the closed connection's reconnect and dropped there:
      // it never settled.
      await waitFor('the waiting try settles', () => settled.done, { timeoutMs: 15_000 });
      const taken = await waiting;
      assert.ok(taken, 'the waiting try took its lock');
      // That try reconnected the first lock's connection: the first lock's own session is still gone.
      assert.equal(await held[0]!.alive(), false, 'the lock whose session ended is not alive');
      for (let i = 1; i < POOL; i++) assert.equal(await held[i]!.alive(), true, `lock ${i} is alive`);
      assert.equal(await taken.alive(), true, 'the new lock is alive');
      // The ended lock's release leaves the new holder's lock (on the reconnected connection) alone.
      await held[0]!.release().catch(() => {});
      assert.equal(await other.tryLock(base + POOL), null, 'the new lock is still held');
      assert.equal(await taken.alive(), true, 'the new lock is alive after the old one was released');
      // And the ended lock's key is free for anyone.
      const again = await other.tryLock(base);
      assert.ok(again, 'the first key is free');
      await again.release();
      for (const l of [...held.slice(1), taken]) await l.release();
    } finally {
      await admin.end();
      await other.close();
      await database.close();
      await tdb.cleanup();
    }
  });
});
