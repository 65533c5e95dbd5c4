// The step log's batch on PostgreSQL survives being chosen as a deadlock's victim: it is tried again, and its runs'
// writes land, instead of every run in the batch failing ("pipeline executor crashed", seen at 5,000 nodes).
// Needs PostgreSQL: PGlite has one connection and no deadlocks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import postgres from 'postgres';
import { createTestDatabase } from '../../../../test/support/db.ts';
import { waitFor } from '../../../../test/support/wait.ts';
import { migrate } from '../db/migrate.ts';
import { StepLog } from './step-log.ts';

describe('step log on PostgreSQL', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL (PostgreSQL)' }, () => {
  it('tries a batch again when PostgreSQL picks it as a deadlock victim', async () => {
    const tdb = await createTestDatabase('postgres');
    const database = await tdb.open();
    const other = postgres(tdb.url!, { max: 1, onnotice: () => {} });
    const third = postgres(tdb.url!, { max: 1, onnotice: () => {} });
    const watch = postgres(tdb.url!, { max: 1, onnotice: () => {} });
    try {
      await migrate(database.db);
      for (const id of ['pip_a', 'pip_b', 'pip_z']) {
        await other`insert into pipelines (id, kind, subject, status, input, lease_owner, lease_until)
                    values (${id}, 'ADD_DOMAIN', ${id}, 'running', '{}', 'me', now() + interval '1 minute')`;
        await other`insert into pipeline_steps (pipeline_id, idx, name, params, policy, status)
                    values (${id}, 0, 'OCDN_MAKE_CONF', '{}', '{}', 'running')`;
      }
      const log = new StepLog(database.db, 'me');
      const waiters = async () => (await watch`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)[0]!.n;
      /** How long the longest lock wait in this database has lasted. */
      const waitedMs = async () =>
        (
          await watch`select coalesce(max(extract(epoch from clock_timestamp() - l.waitstart) * 1000), 0)::float8 as ms
                      from pg_locks l join pg_stat_activity a on a.pid = l.pid where not l.granted and a.datname = current_database()`
        )[0]!.ms as number;
      const settle = <T>(p: Promise<T>) => (p.catch(() => {}), p); // judged below
      let written: Promise<boolean[]> | undefined;
      await other.begin(async (tx) => {
        // This transaction holds pip_b. A first batch (pip_z) waits for a third one, so that the next batch holds both
        // pip_a and pip_b; the third lets go, and that batch locks pip_a (ids in order), then waits for pip_b ...
        await tx`select id from pipelines where id = 'pip_b' for update`;
        const release = await new Promise<() => void>((holding) =>
          void third.begin(async (u) => {
            await u`select id from pipelines where id = 'pip_z' for update`;
            await new Promise<void>((done) => holding(done));
          }),
        );
        const first = settle(log.write({ pipelineId: 'pip_z', idx: 0, status: 'succeeded', attempt: true, finished: true }));
        await waitFor('the first batch to wait for pip_z', async () => (await waiters()) === 1, { timeoutMs: 10_000, intervalMs: 5 });
        written = settle(
          Promise.all([
            first,
            log.write({ pipelineId: 'pip_a', idx: 0, status: 'succeeded', attempt: true, finished: true }),
            log.write({ pipelineId: 'pip_b', idx: 0, status: 'succeeded', attempt: true, finished: true }),
          ]),
        );
        release();
        await waitFor('the second batch to wait for pip_b', async () => (await tx`select count(*)::int as n from pipeline_steps where pipeline_id = 'pip_z' and status = 'succeeded'`)[0]!.n === 1 && (await waiters()) === 1, {
          timeoutMs: 10_000,
          intervalMs: 5,
        });
        // The batch has waited a good part of deadlock_timeout (1 s) before the cycle closes: its check comes first by
        // that much, not by the few milliseconds of one poll.
        await waitFor('the second batch to have waited 300 ms', async () => (await waitedMs()) >= 300, { timeoutMs: 10_000, intervalMs: 5 });
        // ... and this one now wants pip_a: a cycle. The batch waited first, so its deadlock_timeout runs out first and
        // PostgreSQL aborts it; this transaction then gets pip_a and ends, and the batch's second try goes through.
        await tx`select id from pipelines where id = 'pip_a' for update`;
      });
      assert.deepEqual(await written, [true, true, true]);
      const steps = await other`select pipeline_id, status, attempts from pipeline_steps order by pipeline_id`;
      assert.deepEqual(
        steps.map((r) => [r.pipeline_id, r.status, r.attempts]),
        [
          ['pip_a', 'succeeded', 1],
          ['pip_b', 'succeeded', 1],
          ['pip_z', 'succeeded', 1],
        ],
      );
    } finally {
      await other.end();
      await third.end();
      await watch.end();
      await database.close();
      await tdb.cleanup();
    }
  });
});
