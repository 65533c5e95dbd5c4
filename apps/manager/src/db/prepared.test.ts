// drizzle's statements on PostgreSQL are named prepared statements (prepared.ts) — also inside a transaction and a
// savepoint, whose callbacks get an `sql` of their own from postgres.js. An unprepared statement with parameters
// costs a round trip of its own before it runs, and blocks pipelining behind it. Needs PostgreSQL.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createTestDatabase } from '../../../../test/support/db.ts';
import type { Db } from './client.ts';
import { rowsOf } from './migrate.ts';

/** Runs a statement with parameters marked by `tag`, then asks its connection whether it holds it prepared. */
async function preparedHere(db: Db, tag: string): Promise<boolean> {
  await db.execute(sql`select ${1}::int + ${2}::int as ${sql.raw(tag)}`);
  const rows = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from pg_prepared_statements where statement like ${`%as ${tag}%`}`));
  return rows[0]!.n === 1;
}

describe('drizzle statements on PostgreSQL are prepared', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL (PostgreSQL)' }, () => {
  it('in a transaction and in a savepoint', async () => {
    const tdb = await createTestDatabase('postgres');
    const database = await tdb.open();
    try {
      // The pool may hand the check another connection outside a transaction: reserve one by a transaction of its own.
      assert.equal(await database.db.transaction((tx) => preparedHere(tx as unknown as Db, 'x_plain_tx')), true, 'in a transaction');
      const nested = await database.db.transaction(async (tx) => tx.transaction((sp) => preparedHere(sp as unknown as Db, 'x_savepoint')));
      assert.equal(nested, true, 'in a savepoint');
    } finally {
      await database.close();
      await tdb.cleanup();
    }
  });
});
