// The step log's lease check looks its runs up by id, however many runs the table keeps: with `in (select ...)` from
// a JSON parameter the planner joined against the whole pipelines table on every batch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createTestDatabase, testBackends } from '../../../../test/support/db.ts';
import { migrate, rowsOf } from '../db/migrate.ts';
import { leasedBy } from './step-log.ts';

for (const backend of testBackends()) {
  describe(`step log lease check on ${backend}`, () => {
    it('finds its runs by index, not by reading every run', async () => {
      const tdb = await createTestDatabase(backend);
      const database = await tdb.open();
      try {
        await migrate(database.db);
        await database.db.execute(sql`
          insert into pipelines (id, kind, subject, status, input, lease_owner)
          select 'pip_' || lpad(g::text, 6, '0'), 'ADD_DOMAIN', 'd' || g, 'running', '{}', case when g % 2 = 0 then 'me' else 'other' end
          from generate_series(1, 2000) g`);
        // PostgreSQL's autovacuum keeps statistics (a table that fresh would be read whole whatever the query);
        // PGlite runs no autovacuum and never has any: the plan must not need them.
        if (backend === 'postgres') await database.db.execute(sql`analyze pipelines`);
        const ids = ['pip_000004', 'pip_000101', 'pip_001500'];
        const held = await database.db.transaction(async (tx) => rowsOf<{ id: string }>(await tx.execute(leasedBy(ids, 'me'))).map((r) => r.id));
        assert.deepEqual(held, ['pip_000004', 'pip_001500'], 'the runs this owner leases, in id order');
        const plan = await database.db.transaction(async (tx) => {
          const query = leasedBy(ids, 'me');
          const rows = rowsOf<{ 'QUERY PLAN': string }>(await tx.execute(sql`explain (analyze, costs off) ${query}`));
          return rows.map((r) => r['QUERY PLAN']).join('\n');
        });
        assert.match(plan, /Index Cond: \(id = ANY/, plan);
        const read = [...plan.matchAll(/(?:on pipelines[^\n]*rows=|Rows Removed by Filter: )(\d+)/g)].map((m) => Number(m[1]));
        assert.ok(read.every((n) => n <= ids.length), `read ${read.join(', ')} rows of pipelines:\n${plan}`);
      } finally {
        await database.close();
        await tdb.cleanup();
      }
    });
  });
}
