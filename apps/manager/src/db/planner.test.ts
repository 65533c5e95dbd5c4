// The manager's PostgreSQL sessions plan for a database in memory (client.ts, PLANNER_SETTINGS): with PostgreSQL's
// default random_page_cost a rollout's batches were joined to whole tables by hashing them. Needs PostgreSQL.
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
});
