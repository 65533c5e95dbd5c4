// A run's steps go with it: pipeline_steps has no foreign key to pipelines (drizzle/0013: its per-row check was a
// third of a domain's step insert), and a statement trigger deletes the steps of deleted runs instead.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createTestDatabase, testBackends } from '../../../../test/support/db.ts';
import { migrate, rowsOf } from '../db/migrate.ts';
import { insertSteps } from './step-log.ts';
import { NO_RETRY, type StepSpec } from './types.ts';

/** A step as stored; what its parameters say does not matter here. */
const step = (name: StepSpec['name'], target: string) => ({ name, target, group: target, params: {}, policy: NO_RETRY }) as unknown as StepSpec;

for (const backend of testBackends()) {
  describe(`a run's steps on ${backend}`, () => {
    it('are deleted with their run, in one statement or several, and no other run loses any', async () => {
      const tdb = await createTestDatabase(backend);
      const database = await tdb.open();
      const db = database.db;
      try {
        await migrate(db);
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
      } finally {
        await database.close();
        await tdb.cleanup();
      }
    });
  });
}
