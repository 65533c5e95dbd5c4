// Statements written out (raw.ts) give the same rows on both drivers, on the database and in a transaction (a unit of
// work's), so the hot paths that use them behave alike on PGlite and PostgreSQL.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { onMigratedDatabase, testBackends } from '../../../../test/support/db.ts';
import { ambient, unitOfWork } from './ambient.ts';
import { sql } from 'drizzle-orm';
import { rowsOf } from './migrate.ts';
import { anyOfIds, anyOfIdsAt, rawRows, rawStatement } from './raw.ts';

interface Probe {
  id: string;
  n: number;
  flag: boolean;
  tags: string[];
  ms: number;
}

const PROBE = `select id, n, flag, tags, (extract(epoch from at) * 1000)::float8 as ms from raw_probe
  where id = ${anyOfIdsAt(1)} order by id`;

for (const backend of testBackends()) {
  describe(`rawRows on ${backend}`, () => {
    it('gives text, integers, booleans, parsed json and epoch milliseconds alike', async () => {
      await onMigratedDatabase(backend, async ({ db }) => {
        await rawStatement(db, 'create table raw_probe (id text primary key, n int, flag boolean, tags jsonb, at timestamptz)', []);
        await rawStatement(db, "insert into raw_probe values ($1, $2, $3, $4::jsonb, '2026-12-06T10:00:00.250Z')", ['a', 7, true, JSON.stringify(['x', 'y'])]);
        await rawStatement(db, "insert into raw_probe values ($1, $2, $3, $4::jsonb, '2026-12-06T10:00:01Z')", ['b', -1, false, '[]']);
        const rows = await rawRows<Probe>(db, PROBE, [JSON.stringify(['b', 'a', 'missing'])]);
        assert.deepEqual([...rows], [ // postgres.js answers an Array of its own class
          { id: 'a', n: 7, flag: true, tags: ['x', 'y'], ms: Date.parse('2026-12-06T10:00:00.250Z') },
          { id: 'b', n: -1, flag: false, tags: [], ms: Date.parse('2026-12-06T10:00:01Z') },
        ]);
        // The same ids through drizzle's helper find the same rows.
        const viaDrizzle = await db.execute(sql`select count(*)::int as n from raw_probe where id = ${anyOfIds(['a', 'b'])}`);
        assert.deepEqual([...rowsOf(viaDrizzle)], [{ n: 2 }]);
      });
    });

    it("runs in the unit of work's transaction: sees its writes, and its writes roll back with it", async () => {
      await onMigratedDatabase(backend, async ({ db }) => {
        await rawStatement(db, 'create table raw_probe (id text primary key, n int, flag boolean, tags jsonb, at timestamptz)', []);
        const shared = ambient(db);
        await assert.rejects(
          unitOfWork(db, async () => {
            await rawStatement(shared, "insert into raw_probe values ('u', 1, true, '[]', now())", []);
            const seen = await rawRows<{ id: string }>(shared, 'select id from raw_probe', []);
            assert.deepEqual([...seen], [{ id: 'u' }], 'the unit sees its own write');
            throw new Error('roll back');
          }),
          /roll back/,
        );
        assert.deepEqual([...(await rawRows(db, 'select id from raw_probe', []))], [], 'the write went with the rollback');
      });
    });
  });
}
