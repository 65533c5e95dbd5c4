// The manager's PostgreSQL sessions plan for a database in memory (client.ts, PLANNER_SETTINGS): with PostgreSQL's
// default random_page_cost a rollout's batches were joined to whole tables by hashing them. The bookkeeping pool plans
// each batch for the table as it is (BATCH_SETTINGS): a generic plan kept from a table's first rows hashed the whole
// of it for every batch. Needs PostgreSQL.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createTestDatabase } from '../../../../test/support/db.ts';
import type { Db } from './client.ts';
import { rowsOf } from './migrate.ts';

const randomPageCost = async (db: Db) => rowsOf<{ random_page_cost: string }>(await db.execute(sql`show random_page_cost`))[0]!.random_page_cost;

describe('the manager\'s PostgreSQL sessions', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL (PostgreSQL)' }, () => {
  it('plan with random_page_cost 1.1 on every pool the manager writes through', async () => {
    const tdb = await createTestDatabase('postgres');
    const database = await tdb.open();
    try {
      assert.equal(await randomPageCost(database.db), '1.1', 'the main pool');
      assert.equal(await randomPageCost(database.urgent), '1.1', 'the urgent pool');
      assert.equal(await randomPageCost(database.bulk), '1.1', 'the bulk pool');
      // Inside a transaction too (postgres.js reserves a connection of the pool for it).
      assert.equal(await database.db.transaction((tx) => randomPageCost(tx as unknown as Db)), '1.1', 'in a transaction');
    } finally {
      await database.close();
      await tdb.cleanup();
    }
  });

  it('plans every batch of the bookkeeping pool for its table as it is, never with a plan kept from earlier', async () => {
    const tdb = await createTestDatabase('postgres');
    const database = await tdb.open();
    try {
      await database.db.execute(sql`create table plan_probe (pipeline_id text, idx int, attempts int, primary key (pipeline_id, idx))`);
      // A batch statement run more than five times on one connection (a transaction holds one): PostgreSQL's default
      // switches such a prepared statement to its generic plan from the sixth run on.
      const plans = async (db: Db) =>
        db.transaction(async (tx) => {
          for (let i = 0; i < 8; i++) {
            const batch = JSON.stringify([{ pipeline_id: `p-${i}`, idx: i }]);
            await tx.execute(sql`update plan_probe s set attempts = s.attempts from jsonb_to_recordset(${batch}::jsonb) as v(pipeline_id text, idx int) where s.pipeline_id = v.pipeline_id and s.idx = v.idx`);
          }
          return rowsOf<{ generic: number; custom: number }>(
            await tx.execute(sql`select generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements where statement like 'update plan_probe s set attempts%'`),
          )[0];
        });
      assert.deepEqual(await plans(database.bulk), { generic: 0, custom: 8 }, 'the bookkeeping pool');
      // The main pool keeps PostgreSQL's default (small statements there gain from plans made once).
      assert.ok(((await plans(database.db))?.generic ?? 0) > 0, 'the main pool reuses a generic plan');
    } finally {
      await database.close();
      await tdb.cleanup();
    }
  });
});
