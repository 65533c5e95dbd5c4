// A run keeps its steps (pipelines.steps) and a step's row is written when something happens to it (drizzle/0015);
// run_steps shows both halves. A run's step rows go with it: pipeline_steps has no foreign key to pipelines
// (drizzle/0013: its per-row check was a third of a domain's step insert), and a statement trigger deletes the steps
// of deleted runs instead. Changes to steps reach live events: the step log announces each run of a batch once
// (drizzle/0014), the trigger any other writer's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { onMigratedDatabase, testBackends } from '../../../../test/support/db.ts';
import { waitFor } from '../../../../test/support/wait.ts';
import { rowsOf } from '../db/migrate.ts';
import { anyOfIds } from '../db/raw.ts';
import type { Db } from '../db/client.ts';
import { failUnfinishedSteps, queueRuns } from './enqueue.ts';
import { StepLog, loadSteps } from './step-log.ts';
import { NO_RETRY, RETRY, type StepSpec } from './types.ts';

/** A step as stored; what its parameters say does not matter here. */
const step = (name: StepSpec['name'], target: string) => ({ name, target, group: target, params: {}, policy: NO_RETRY }) as unknown as StepSpec;

/** Rows of steps something happened to, state only (as the step log writes them): [run, idx, status]. */
async function writeRows(db: Db, rows: [string, number, string][]): Promise<void> {
  await db.execute(sql`
    insert into pipeline_steps (pipeline_id, idx, status, attempts)
    select r->>0, (r->>1)::int, r->>2, 1 from jsonb_array_elements(${JSON.stringify(rows)}::jsonb) r`);
}

for (const backend of testBackends()) {
  describe(`a run's steps on ${backend}`, () => {
    it('are kept with the run and show pending until written; a cancellation ends every unfinished one', async () => {
      await onMigratedDatabase(backend, async (database) => {
        const db = database.db;
        const steps = [step('OCDN_SYNC_CONF', 'a'), step('OCDN_NODE_RELOAD', 'a'), step('OCDN_VER_CONF', 'b')];
        const [run] = await queueRuns(db, [{ kind: 'ADD_DOMAIN', subject: 'dom_1', input: {}, steps }]);
        const id = run!.id;
        const count = async () => rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from pipeline_steps where pipeline_id = ${id}`))[0]!.n;
        assert.equal(await count(), 0, 'no row is written with the run');
        const view = async () =>
          rowsOf<{ row: string }>(await db.execute(sql`select concat_ws(' ', idx, name, target, status, attempts, coalesce(error, '-')) as row from run_steps where pipeline_id = ${id} order by idx`)).map((r) => r.row);
        assert.deepEqual(await view(), ['0 OCDN_SYNC_CONF a pending 0 -', '1 OCDN_NODE_RELOAD a pending 0 -', '2 OCDN_VER_CONF b pending 0 -']);

        await writeRows(db, [[id, 0, 'succeeded']]);
        const loaded = await loadSteps(db, id);
        assert.deepEqual(
          loaded.map((r) => [r.idx, r.name, r.target, r.group, r.status, r.policy.maxAttempts]),
          [
            [0, 'OCDN_SYNC_CONF', 'a', 'a', 'succeeded', NO_RETRY.maxAttempts],
            [1, 'OCDN_NODE_RELOAD', 'a', 'a', 'pending', NO_RETRY.maxAttempts],
            [2, 'OCDN_VER_CONF', 'b', 'b', 'pending', NO_RETRY.maxAttempts],
          ],
        );

        await writeRows(db, [[id, 1, 'running']]);
        await failUnfinishedSteps(db, [id], 'cancelled: by the test');
        assert.deepEqual(await view(), ['0 OCDN_SYNC_CONF a succeeded 1 -', '1 OCDN_NODE_RELOAD a failed 1 cancelled: by the test', '2 OCDN_VER_CONF b failed 0 cancelled: by the test']);
      });
    });

    it('name their retry policy by its place in the run\'s policies, and one that carries its own reads the same', async () => {
      await onMigratedDatabase(backend, async (database) => {
        const db = database.db;
        const slow = { ...RETRY }; // equal to RETRY, another object: counted once
        const steps = [
          { ...step('OCDN_SYNC_CONF', 'a'), policy: NO_RETRY },
          { ...step('OCDN_NODE_RELOAD', 'a'), policy: RETRY },
          { ...step('OCDN_VER_CONF', 'a'), policy: slow },
          { ...step('OCDN_SYNC_CONF', 'b'), target: null, group: undefined, policy: NO_RETRY },
        ] as StepSpec[];
        const queued = await queueRuns(db, [
          { kind: 'ADD_DOMAIN', subject: 'one', input: {}, steps },
          { kind: 'ADD_DOMAIN', subject: 'two', input: {}, steps: steps.slice(1) },
        ]);
        const [one] = await queueRuns(db, [{ kind: 'ADD_DOMAIN', subject: 'alone', input: {}, steps }]);
        const stored = rowsOf<{ id: string; steps: Record<string, unknown>[]; policies: unknown[] }>(
          await db.execute(sql`select id, steps, policies from pipelines where id = ${anyOfIds([...queued.map((r) => r.id), one!.id])}`),
        );
        assert.equal(stored.length, 3);
        for (const run of stored) {
          // Each distinct policy once, and no step carries one of its own.
          assert.equal(run.policies.length, 2, JSON.stringify(run.policies));
          assert.ok(run.steps.every((s) => !('policy' in s) && typeof s.p === 'number'), JSON.stringify(run.steps));
        }
        const expected = (specs: StepSpec[]) => specs.map((s, idx) => [idx, s.name, s.target, s.group ?? null, s.params, s.policy]);
        const read = async (id: string) => (await loadSteps(db, id)).map((r) => [r.idx, r.name, r.target, r.group, r.params, r.policy]);
        assert.deepEqual(await read(queued[0]!.id), expected(steps));
        assert.deepEqual(await read(queued[1]!.id), expected(steps.slice(1)));
        assert.deepEqual(await read(one!.id), expected(steps));

        // A run written by a replica of the code before: every step carries its policy, the run has no policies.
        await db.execute(sql`insert into pipelines (id, kind, subject, status, input, steps) values ('pip_before', 'ADD_DOMAIN', 'before', 'pending', '{}', ${JSON.stringify(steps)}::jsonb)`);
        assert.deepEqual(await read('pip_before'), expected(steps));
        // What the API shows of either is the same.
        const shown = async (id: string) => rowsOf<{ row: string }>(await db.execute(sql`select concat_ws(' ', idx, name, policy::text) as row from run_steps where pipeline_id = ${id} order by idx`)).map((r) => r.row);
        assert.deepEqual(await shown('pip_before'), await shown(one!.id));
      });
    });

    it('of a run written before its steps were kept with it are its rows, as they were', async () => {
      await onMigratedDatabase(backend, async (database) => {
        const db = database.db;
        await db.execute(sql`insert into pipelines (id, kind, subject, status, input) values ('pip_old', 'ADD_DOMAIN', 'old', 'running', '{}')`);
        await db.execute(sql`
          insert into pipeline_steps (pipeline_id, idx, name, target, "group", params, policy, status) values
            ('pip_old', 0, 'OCDN_SYNC_CONF', '127.0.0.2', 'n1', '{"domain":"old.example"}', ${JSON.stringify(NO_RETRY)}::jsonb, 'succeeded'),
            ('pip_old', 1, 'OCDN_NODE_RELOAD', '127.0.0.2', 'n1', '{}', ${JSON.stringify(NO_RETRY)}::jsonb, 'pending')`);
        const loaded = await loadSteps(db, 'pip_old');
        assert.deepEqual(loaded.map((r) => [r.idx, r.name, r.target, r.group, r.params, r.status]), [
          [0, 'OCDN_SYNC_CONF', '127.0.0.2', 'n1', { domain: 'old.example' }, 'succeeded'],
          [1, 'OCDN_NODE_RELOAD', '127.0.0.2', 'n1', {}, 'pending'],
        ]);
        await failUnfinishedSteps(db, ['pip_old'], 'cancelled: by the test');
        const statuses = rowsOf<{ status: string }>(await db.execute(sql`select status from run_steps where pipeline_id = 'pip_old' order by idx`));
        assert.deepEqual(statuses.map((r) => r.status), ['succeeded', 'failed']);
      });
    });

    it('are deleted with their run, in one statement or several, and no other run loses any', async () => {
      await onMigratedDatabase(backend, async (database) => {
        const db = database.db;
        const ids = ['pip_gone_1', 'pip_gone_2', 'pip_kept', 'pip_gone_3'];
        const steps = [step('OCDN_SYNC_CONF', 'a'), step('OCDN_NODE_RELOAD', 'a'), step('OCDN_VER_CONF', 'b')];
        await db.execute(sql`
          insert into pipelines (id, kind, subject, status, input, steps)
          select id, 'ADD_DOMAIN', id, 'running', '{}', ${JSON.stringify(steps)}::jsonb from jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb) id`);
        await writeRows(db, ids.flatMap((id) => [0, 1, 2].map((idx): [string, number, string] => [id, idx, 'succeeded'])));
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
        const steps = JSON.stringify([step('OCDN_SYNC_CONF', 'a'), step('OCDN_NODE_RELOAD', 'a')]);
        await db.execute(sql`
          insert into pipelines (id, kind, subject, status, input, lease_owner, lease_until, steps) values
            ('pip_a', 'ADD_DOMAIN', 'a', 'running', '{}', 'me', now() + interval '1 minute', ${steps}::jsonb),
            ('pip_b', 'ADD_DOMAIN', 'b', 'running', '{}', 'me', now() + interval '1 minute', ${steps}::jsonb),
            ('pip_x', 'ADD_DOMAIN', 'x', 'running', '{}', 'another', now() + interval '1 minute', ${steps}::jsonb),
            ('pip_c', 'ADD_DOMAIN', 'c', 'failed', '{}', null, null, ${steps}::jsonb)`);
        // pip_a's first step has a row (a retry was written); the batch updates it and inserts the others' rows.
        await writeRows(db, [['pip_a', 0, 'running'], ['pip_c', 1, 'failed']]);
        const seen: string[] = [];
        const unlisten = await database.listen('ocdn_events', (payload) => seen.push(payload));
        try {
          const log = new StepLog(db, 'me');
          const write = (pipelineId: string, idx: number) => log.write({ pipelineId, idx, status: 'succeeded', error: null, attempt: true, finished: true });
          // The first write commits alone; the other three wait for it and go together in a second batch.
          assert.deepEqual(await Promise.all([write('pip_a', 0), write('pip_a', 1), write('pip_b', 0), write('pip_x', 0)]), [true, true, true, false]);
          // Written where a row was, inserted where none was, nothing for the run another replica holds.
          const rows = rowsOf<{ row: string }>(await db.execute(sql`
            select concat_ws(' ', pipeline_id, idx, status, attempts, started_at is not null, finished_at is not null) as row
            from pipeline_steps where pipeline_id <> 'pip_c' order by pipeline_id, idx`));
          assert.deepEqual(rows.map((r) => r.row), ['pip_a 0 succeeded 2 t t', 'pip_a 1 succeeded 1 t t', 'pip_b 0 succeeded 1 t t']);
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
