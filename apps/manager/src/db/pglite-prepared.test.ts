// PGlite's statements as named prepared statements (pglite-prepared.ts): same results as PGlite's own `query`,
// errors that leave the database usable, transactions that roll back, and a bounded number of statements kept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { eq, sql } from 'drizzle-orm';
import { integer, jsonb, numeric, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { openDatabase } from './client.ts';
import { rowsOf } from './migrate.ts';
import { preparedPglite } from './pglite-prepared.ts';

const things = pgTable('things', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
  tags: text('tags').array(),
  doc: jsonb('doc'),
  price: numeric('price'),
  at: timestamp('at', { withTimezone: true, mode: 'date' }),
});

const DDL = 'create table things (id int primary key, name text not null, tags text[], doc jsonb, price numeric, at timestamptz)';
const prepared = async (pg: PGlite) => (await pg.query<{ n: number }>('select count(*)::int as n from pg_prepared_statements')).rows[0]!.n;

async function both<T>(fn: (db: ReturnType<typeof drizzle>, pg: PGlite) => Promise<T>): Promise<[T, T]> {
  const out: T[] = [];
  for (const wrap of [false, true]) {
    const pg = new PGlite();
    if (wrap) preparedPglite(pg);
    await pg.exec(DDL);
    try {
      out.push(await fn(drizzle(pg), pg));
    } finally {
      await pg.close();
    }
  }
  return out as [T, T];
}

/** A fresh in-memory PGlite with the statements prepared and the test table, closed after `fn`. */
async function withPrepared(fn: (pg: PGlite) => Promise<void>, opts?: { maxStatements?: number }): Promise<void> {
  const pg = preparedPglite(new PGlite(), opts);
  await pg.exec(DDL);
  try {
    await fn(pg);
  } finally {
    await pg.close();
  }
}

describe('PGlite statements prepared once', () => {
  it('answers as PGlite itself does: types, nulls, arrays, json, numeric, timestamps, affected rows', async () => {
    const at = new Date('2026-12-03T04:05:06.789Z');
    const [plain, mine] = await both(async (db, pg) => {
      await db.insert(things).values([
        { id: 1, name: "it's", tags: ['a', 'b,c', 'd"e'], doc: { k: [1, 'two', null], n: { deep: true } }, price: '12.50', at },
        { id: 2, name: 'two', tags: null, doc: null, price: null, at: null },
      ]);
      const rows = await db.select().from(things).orderBy(things.id);
      const updated = await db.update(things).set({ name: 'zwei' }).where(eq(things.id, 2)).returning({ id: things.id, name: things.name });
      const raw = await pg.query('select id, name, doc, at from things where id = $1', [1]);
      const affected = (await pg.query('update things set price = price where id > $1', [0])).affectedRows;
      const counted = await db.execute(sql`select count(*)::int as n, ${'x'}::text as t, ${null}::int as nothing`);
      return { rows, updated, raw: { rows: raw.rows, fields: raw.fields }, affected, counted: counted.rows };
    });
    assert.deepEqual(mine, plain);
    assert.equal(mine.rows[0]!.at?.toISOString(), at.toISOString());
    assert.deepEqual(mine.rows[0]!.tags, ['a', 'b,c', 'd"e']);
  });

  it('prepares each statement once, and keeps no more than its limit', () =>
    withPrepared(async (pg) => {
      const before = await prepared(pg); // (the count query is prepared too)
      for (let i = 0; i < 5; i++) await pg.query('select name from things where id = $1', [i]);
      assert.equal((await prepared(pg)) - before, 1, 'the same text five times is one statement');
      for (let i = 0; i < 30; i++) await pg.query(`select name from things where id = $1 and ${i} = ${i}`, [i]);
      // The statements dropped are closed with the next run (the count query is one of those kept).
      const kept = await prepared(pg);
      assert.ok(kept <= before + 8, `kept ${kept}`);
      await pg.query('select name from things where id = $1', [1]); // dropped and prepared again
    }, { maxStatements: 8 }));

  it('a failed statement carries its SQLSTATE and leaves the database usable, in and out of a transaction', () =>
    withPrepared(async (pg) => {
      await pg.query('insert into things (id, name) values ($1, $2)', [1, 'one']);
      await assert.rejects(pg.query('insert into things (id, name) values ($1, $2)', [1, 'again']), (err: { code?: string; query?: string }) => {
        assert.equal(err.code, '23505');
        assert.match(err.query ?? '', /insert into things/);
        return true;
      });
      await assert.rejects(pg.query('select nope from things where id = $1', [1]), (err: { code?: string }) => err.code === '42703');
      await assert.rejects(
        pg.transaction(async (tx) => {
          await tx.query('insert into things (id, name) values ($1, $2)', [2, 'two']);
          await tx.query('insert into things (id, name) values ($1, $2)', [1, 'dup']);
        }),
        (err: { code?: string }) => err.code === '23505',
      );
      const rows = (await pg.query<{ id: number }>('select id from things where id > $1 order by id', [0])).rows;
      assert.deepEqual(rows, [{ id: 1 }], 'the failed transaction rolled back');
      const committed = await pg.transaction(async (tx) => {
        await tx.query('insert into things (id, name) values ($1, $2)', [3, 'three']);
        return (await tx.query<{ n: number }>('select count(*)::int as n from things where id > $1', [0])).rows[0]!.n;
      });
      assert.equal(committed, 2);
    }));

  it('queries from outside wait for a transaction in progress', () =>
    withPrepared(async (pg) => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const tx = pg.transaction(async (t) => {
        await t.query('insert into things (id, name) values ($1, $2)', [1, 'one']);
        await held;
      });
      let seen: number | null = null;
      const outside = pg.query<{ n: number }>('select count(*)::int as n from things where id > $1', [0]).then((r) => (seen = r.rows[0]!.n));
      await new Promise((r) => setImmediate(r));
      assert.equal(seen, null, 'the outside query ran inside the open transaction');
      release();
      await tx;
      await outside;
      assert.equal(seen, 1);
    }));

  it('the manager plans every run for its own values (no statistics for a generic plan on PGlite)', async () => {
    const database = await openDatabase({ memory: true });
    try {
      const rows = rowsOf<{ plan_cache_mode: string }>(await database.db.execute(sql`show plan_cache_mode`));
      assert.equal(rows[0]!.plan_cache_mode, 'force_custom_plan');
    } finally {
      await database.close();
    }
  });
});
