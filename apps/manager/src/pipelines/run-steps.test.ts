// A run's steps go with it: pipeline_steps has no foreign key to pipelines (drizzle/0013: its per-row check was a
// third of a domain's step insert), and a statement trigger deletes the steps of deleted runs instead. Changes to
// steps reach live events: the step log announces each run of a batch once (drizzle/0014), the trigger any other
// writer's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { onMigratedDatabase, testBackends } from '../../../../test/support/db.ts';
import { waitFor } from '../../../../test/support/wait.ts';
import { rowsOf } from '../db/migrate.ts';
import { StepLog, insertSteps } from './step-log.ts';
import { NO_RETRY, type StepSpec } from './types.ts';

/** A step as stored; what its parameters say does not matter here. */
const step = (name: StepSpec['name'], target: string) => ({ name, target, group: target, params: {}, policy: NO_RETRY }) as unknown as StepSpec;

for (const backend of testBackends()) {
  describe(`a run's steps on ${backend}`, () => {
    it('are deleted with their run, in one statement or several, and no other run loses any', async () => {
      await onMigratedDatabase(backend, async (database) => {
        const db = database.db;
        const ids = ['pip_gone_1', 'pip_gone_2', 'pip_kept', 'pip_gone_3'];
        await db.execute(sql`
          insert into pipelines (id, kind, subject, status, input)
          select id, 'ADD_DOMAIN', id, 'pending', '{}' from jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb) id`);
        await insertSteps(db, ids.map((pipelineId) => ({ pipelineId, steps: [step('OCDN_SYNC_CONF', 'a'), step('OCDN_NODE_RELOAD', 'a'), step('OCDN_VER_CONF', 'b')] })));
        const counts = async () =>
          Object.fromEntries(
            rowsOf<{ id: string; n: number }>(await db.execute(sql`select pipeline_id as id, count(*)::int as n from pipeline_steps group by 1 order by 1`)).map((r) => [r.id, r.n]),
          );
        assert.deepEqual(await counts(), { pip_gone_1: 3, pip_gone_2: 3, pip_gone_3: 3, pip_kept: 3 });

        await db.execute(sql`delete from pipelines where id in ('pip_gone_1', 'pip_gone_2')`);
        assert.deepEqual(await counts(), { pip_gone_3: 3, pip_kept: 3 });
        await db.execute(sql`delete from pipelines where id = 'pip_gone_3'`);
        assert.deepEqual(await counts(), { pip_kept: 3 });
        // A delete that matches no run is no error and touches nothing.
        await db.execute(sql`delete from pipelines where id = 'pip_none'`);
        assert.deepEqual(await counts(), { pip_kept: 3 });
      });
    });

    it('are announced once per run by a step-log batch, never for a run the log does not hold, and by any other writer', async () => {
      await onMigratedDatabase(backend, async (database) => {
        const db = database.db;
        await db.execute(sql`
          insert into pipelines (id, kind, subject, status, input, lease_owner, lease_until) values
            ('pip_a', 'ADD_DOMAIN', 'a', 'running', '{}', 'me', now() + interval '1 minute'),
            ('pip_b', 'ADD_DOMAIN', 'b', 'running', '{}', 'me', now() + interval '1 minute'),
            ('pip_x', 'ADD_DOMAIN', 'x', 'running', '{}', 'another', now() + interval '1 minute'),
            ('pip_c', 'ADD_DOMAIN', 'c', 'failed', '{}', null, null)`);
        await insertSteps(db, ['pip_a', 'pip_b', 'pip_x', 'pip_c'].map((pipelineId) => ({ pipelineId, steps: [step('OCDN_SYNC_CONF', 'a'), step('OCDN_NODE_RELOAD', 'a')] })));
        const seen: string[] = [];
        const unlisten = await database.listen('ocdn_events', (payload) => seen.push(payload));
        try {
          const log = new StepLog(db, 'me');
          const write = (pipelineId: string, idx: number) => log.write({ pipelineId, idx, status: 'succeeded', error: null, attempt: true, finished: true });
          // The first write commits alone; the other three wait for it and go together in a second batch.
          assert.deepEqual(await Promise.all([write('pip_a', 0), write('pip_a', 1), write('pip_b', 0), write('pip_x', 0)]), [true, true, true, false]);
          // Another writer (as a retry or a cancellation does): the trigger announces it.
          await db.execute(sql`update pipeline_steps set status = 'skipped' where pipeline_id = 'pip_c' and idx = 1`);
          // Notices arrive in commit order: once the last one is here, the batches' are too.
          await waitFor('the other writer announced', () => seen.includes('pipeline:pip_c'), { timeoutMs: 10_000 });
          const count = (run: string) => seen.filter((p) => p === `pipeline:${run}`).length;
          assert.deepEqual({ a: count('pip_a'), b: count('pip_b'), x: count('pip_x'), c: count('pip_c') }, { a: 2, b: 1, x: 0, c: 1 }, seen.join(' '));
          assert.equal(seen.at(-1), 'pipeline:pip_c');
        } finally {
          await unlisten();
        }
      });
    });
  });
}
