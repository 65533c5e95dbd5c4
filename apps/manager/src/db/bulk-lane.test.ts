// The engine's bookkeeping lane (Database.bulk): on PostgreSQL its commits do not wait for the WAL flush, the main
// and urgent lanes' do, and what it commits is seen at once through the others. On PGlite it is the main lane.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createTestDatabase, testBackends } from '../../../../test/support/db.ts';
import type { Db } from './client.ts';
import { migrate, rowsOf } from './migrate.ts';

const setting = async (db: Db) => rowsOf<{ synchronous_commit: string }>(await db.execute(sql`show synchronous_commit`))[0]!.synchronous_commit;

for (const backend of testBackends()) {
  describe(`the bulk lane on ${backend}`, () => {
    it('commits without waiting for the flush on PostgreSQL only, and its writes are seen at once elsewhere', async () => {
      const tdb = await createTestDatabase(backend);
      const database = await tdb.open();
      try {
        await migrate(database.db);
        if (backend === 'postgres') {
          assert.equal(await setting(database.bulk), 'off');
          assert.equal(await setting(database.db), 'on', 'admin changes stay durable at commit');
          assert.equal(await setting(database.urgent), 'on');
        } else {
          assert.equal(database.bulk, database.db);
        }
        await database.bulk.execute(sql`insert into settings (key, value) values ('bulk-lane-test', 'written')`);
        const rows = rowsOf<{ value: unknown }>(await database.db.execute(sql`select value from settings where key = 'bulk-lane-test'`));
        assert.deepEqual(rows.map((r) => r.value), ['written']);
      } finally {
        await database.close();
        await tdb.cleanup();
      }
    });
  });
}
