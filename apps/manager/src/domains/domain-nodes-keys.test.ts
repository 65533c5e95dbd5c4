// domain_nodes refers to domains and nodes without foreign keys (drizzle/0017: their per-row checks were most of a
// domain's 50-row insert on the embedded database); statement triggers check the same things once per statement.
// Each case here is what the keys did: a row whose domain or node is missing is refused with SQLSTATE 23503 and
// nothing of its statement is written, a deleted domain takes its rows along, a node a domain is on cannot be deleted
// (on PostgreSQL also while the row referring to it is not committed yet), a changed key is checked, and an insert is
// announced once per domain.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { onMigratedDatabase, testBackends } from '../../../../test/support/db.ts';
import { waitFor } from '../../../../test/support/wait.ts';
import type { Db } from '../db/client.ts';
import { sqlState } from '../db/errors.ts';
import { rowsOf } from '../db/migrate.ts';

async function seed(db: Db): Promise<void> {
  await db.execute(sql`
    insert into nodes (id, name, ip, roles, agent_port, status, token, token_hash)
    select 'nod_' || i, 'n' || i, '127.0.9.' || i, '["cdn"]', 7000, 'normal', 't', 'h' from generate_series(1, 3) i`);
  await db.execute(sql`
    insert into domains (domain, sub_domain, origins, status, config_version)
    select d, replace(d, '.', '-'), '["10.0.0.1"]', 'normal', 1 from unnest(array['a.example', 'b.example']) d`);
}

const rowsOfTable = async (db: Db): Promise<string[]> =>
  rowsOf<{ row: string }>(await db.execute(sql`select domain || ' ' || node_id as row from domain_nodes order by 1`)).map((r) => r.row);

/** The SQLSTATE `statement` fails with (undefined if it does not fail). */
async function failure(statement: Promise<unknown>): Promise<string | undefined> {
  return statement.then(
    () => undefined,
    (err: unknown) => sqlState(err) ?? String(err),
  );
}

for (const backend of testBackends()) {
  describe(`domain_nodes' references on ${backend}`, () => {
    it('accept rows whose domain and node exist, and refuse a statement with one that does not, writing none of it', async () => {
      await onMigratedDatabase(backend, async ({ db }) => {
        await seed(db);
        await db.execute(sql`insert into domain_nodes (domain, node_id, status) values ('a.example', 'nod_1', 'new'), ('a.example', 'nod_2', 'new')`);
        const missingNode = db.execute(sql`insert into domain_nodes (domain, node_id, status) values ('b.example', 'nod_1', 'new'), ('b.example', 'nod_9', 'new')`);
        assert.equal(await failure(missingNode), '23503');
        const missingDomain = db.execute(sql`insert into domain_nodes (domain, node_id, status) values ('b.example', 'nod_1', 'new'), ('c.example', 'nod_1', 'new')`);
        assert.equal(await failure(missingDomain), '23503');
        assert.deepEqual(await rowsOfTable(db), ['a.example nod_1', 'a.example nod_2']);
      });
    });

    it("go with their domain when it is deleted, and keep a node that a domain is on from being deleted", async () => {
      await onMigratedDatabase(backend, async ({ db }) => {
        await seed(db);
        await db.execute(sql`
          insert into domain_nodes (domain, node_id, status)
          values ('a.example', 'nod_1', 'new'), ('a.example', 'nod_2', 'new'), ('b.example', 'nod_2', 'new')`);
        await db.execute(sql`delete from domains where domain = 'a.example'`);
        assert.deepEqual(await rowsOfTable(db), ['b.example nod_2']);
        assert.equal(await failure(db.execute(sql`delete from nodes where id in ('nod_2', 'nod_3')`)), '23503');
        await db.execute(sql`delete from nodes where id = 'nod_3'`); // on no domain
        const nodes = rowsOf<{ id: string }>(await db.execute(sql`select id from nodes order by id`)).map((r) => r.id);
        assert.deepEqual(nodes, ['nod_1', 'nod_2']);
      });
    });

    it('check a changed key as the keys did, and let every other column change', async () => {
      await onMigratedDatabase(backend, async ({ db }) => {
        await seed(db);
        await db.execute(sql`insert into domain_nodes (domain, node_id, status) values ('a.example', 'nod_1', 'new')`);
        // A row moved to a domain or node that does not exist; a domain or node renamed while a row refers to it.
        assert.equal(await failure(db.execute(sql`update domain_nodes set node_id = 'nod_9' where node_id = 'nod_1'`)), '23503');
        assert.equal(await failure(db.execute(sql`update domain_nodes set domain = 'z.example' where node_id = 'nod_1'`)), '23503');
        assert.equal(await failure(db.execute(sql`update domains set domain = 'z.example' where domain = 'a.example'`)), '23503');
        assert.equal(await failure(db.execute(sql`update nodes set id = 'nod_z' where id = 'nod_1'`)), '23503');
        // Moved to ones that exist, and renamed while nothing refers to them: as the keys allowed.
        await db.execute(sql`update domain_nodes set node_id = 'nod_2', domain = 'b.example' where node_id = 'nod_1'`);
        await db.execute(sql`update domains set domain = 'z.example' where domain = 'a.example'`);
        await db.execute(sql`update nodes set id = 'nod_z' where id = 'nod_1'`);
        await db.execute(sql`update domain_nodes set status = 'complete', dns_kept = true where node_id = 'nod_2'`);
        await db.execute(sql`update domains set status = 'complete' where domain = 'b.example'`);
        await db.execute(sql`update nodes set status = 'fault' where id = 'nod_2'`);
        const row = rowsOf<{ row: string }>(await db.execute(sql`select domain || ' ' || node_id || ' ' || status || ' ' || dns_kept as row from domain_nodes`));
        assert.deepEqual(row.map((r) => r.row), ['b.example nod_2 complete true']);
      });
    });

    it('announce an insert once for each domain it puts on nodes', async () => {
      await onMigratedDatabase(backend, async (database) => {
        const { db } = database;
        await seed(db);
        const seen: string[] = [];
        const unlisten = await database.listen('ocdn_events', (payload) => seen.push(payload));
        try {
          await db.execute(sql`
            insert into domain_nodes (domain, node_id, status)
            values ('a.example', 'nod_1', 'new'), ('a.example', 'nod_2', 'new'), ('a.example', 'nod_3', 'new'), ('b.example', 'nod_1', 'new')`);
          await db.execute(sql`update nodes set name = 'renamed' where id = 'nod_3'`); // announced after the insert's
          await waitFor('the later change announced', () => seen.includes('node:nod_3'), { timeoutMs: 10_000 });
          assert.deepEqual(seen.filter((p) => p.startsWith('domain:')).sort(), ['domain:a.example', 'domain:b.example']);
        } finally {
          await unlisten();
        }
      });
    });

    if (backend === 'postgres') {
      it('keep a node from being deleted while a row referring to it waits to be committed', async () => {
        await onMigratedDatabase(backend, async ({ db }) => {
          await seed(db);
          let commit!: () => void;
          const held = new Promise<void>((resolve) => (commit = resolve));
          let inserted!: () => void;
          const insertedYet = new Promise<void>((resolve) => (inserted = resolve));
          const adding = db.transaction(async (tx) => {
            await tx.execute(sql`insert into domain_nodes (domain, node_id, status) values ('a.example', 'nod_3', 'new')`);
            inserted();
            await held;
          });
          await insertedYet;
          const deleting = failure(db.execute(sql`delete from nodes where id = 'nod_3'`));
          // The delete waits for the insert's transaction (the row lock the insert's check took), as with the key.
          await waitFor('the delete waits on a lock', async () => {
            const waiting = rowsOf<{ n: number }>(await db.execute(sql`
              select count(*)::int as n from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock' and query like 'delete from nodes%'`));
            return waiting[0]!.n === 1;
          }, { timeoutMs: 10_000 });
          commit();
          await adding;
          assert.equal(await deleting, '23503');
          assert.deepEqual(await rowsOfTable(db), ['a.example nod_3']);
        });
      });
    }
  });
}
