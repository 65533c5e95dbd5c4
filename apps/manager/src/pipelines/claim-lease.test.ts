// A run's lease is claimed in one call (ocdn_claim_run, drizzle/0010, 0011, 0016): what the claim allows and refuses,
// and whether the run is as written; and what replicas from before runs kept their steps (drizzle/0015) may claim.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { onMigratedDatabase, testBackends } from '../../../../test/support/db.ts';
import type { Db } from '../db/client.ts';
import { rowsOf } from '../db/migrate.ts';
import { claimLease } from './leases.ts';

/** Runs `fn` on a migrated database of its own. */
const onDatabase = (backend: 'pglite' | 'postgres', fn: (db: Db) => Promise<void>) => onMigratedDatabase(backend, (database) => fn(database.db));

for (const backend of testBackends()) {
  describe(`claiming a run's lease on ${backend}`, () => {
    it('takes a free run oldest first on its subject, never a live lease of another owner, and an expired one', async () => {
      await onDatabase(backend, async (db) => {
        await db.execute(sql`
          insert into pipelines (id, kind, subject, status, input, created_at) values
            ('pip_old', 'FAULT_NODE', 'nod_claim', 'pending', '{}', now() - interval '2 seconds'),
            ('pip_new', 'RECOVER_NODE', 'nod_claim', 'pending', '{}', now() - interval '1 second'),
            ('pip_done', 'ADD_NODE', 'nod_other', 'succeeded', '{}', now())`);
        const lease = async (id: string) =>
          rowsOf<{ lease_owner: string | null; status: string; live: boolean }>(
            await db.execute(sql`select lease_owner, status, lease_until > now() as live from pipelines where id = ${id}`),
          )[0]!;

        assert.equal(await claimLease(db, 'pip_new', 'me'), null, 'an older run on the subject is unfinished');
        assert.equal((await lease('pip_new')).status, 'pending');
        assert.deepEqual(await claimLease(db, 'pip_old', 'me'), { kind: 'FAULT_NODE', subject: 'nod_claim', fresh: true });
        assert.deepEqual(await lease('pip_old'), { lease_owner: 'me', status: 'running', live: true });
        assert.deepEqual(await claimLease(db, 'pip_old', 'me'), { kind: 'FAULT_NODE', subject: 'nod_claim', fresh: true }, 'its owner may claim it again');
        assert.equal(await claimLease(db, 'pip_old', 'other'), null, 'a live lease of another owner');
        assert.equal(await claimLease(db, 'pip_done', 'me'), null, 'a finished run');
        assert.equal(await claimLease(db, 'pip_missing', 'me'), null, 'no such run');

        await db.execute(sql`update pipelines set lease_until = now() - interval '1 second' where id = 'pip_old'`);
        assert.deepEqual(await claimLease(db, 'pip_old', 'other'), { kind: 'FAULT_NODE', subject: 'nod_claim', fresh: true }, 'an expired lease is taken over');
        assert.equal((await lease('pip_old')).lease_owner, 'other');

        await db.execute(sql`update pipelines set status = 'succeeded', lease_owner = null, lease_until = null where id = 'pip_old'`);
        assert.deepEqual(await claimLease(db, 'pip_new', 'me'), { kind: 'RECOVER_NODE', subject: 'nod_claim', fresh: true }, 'the next run once the older one ended');
      });
    });

    it('says a run is fresh only while every step of it is pending and untried', async () => {
      await onDatabase(backend, async (db) => {
        await db.execute(sql`insert into pipelines (id, kind, subject, status, input) values ('pip_f', 'ADD_NODE', 'nod_fresh', 'pending', '{}')`);
        await db.execute(sql`
          insert into pipeline_steps (pipeline_id, idx, name, params, policy, status) values
            ('pip_f', 0, 'OCDN_NODE_HEART', '{}', '{}', 'pending'), ('pip_f', 1, 'OCDN_NODE_STATUS', '{}', '{}', 'pending')`);
        assert.equal((await claimLease(db, 'pip_f', 'me'))?.fresh, true);
        await db.execute(sql`update pipeline_steps set attempts = 1 where pipeline_id = 'pip_f' and idx = 1`);
        assert.equal((await claimLease(db, 'pip_f', 'me'))?.fresh, false, 'a step was tried (and set pending again by a retry)');
        await db.execute(sql`update pipeline_steps set attempts = 0 where pipeline_id = 'pip_f'`);
        await db.execute(sql`update pipeline_steps set status = 'succeeded' where pipeline_id = 'pip_f' and idx = 0`);
        assert.equal((await claimLease(db, 'pip_f', 'me'))?.fresh, false, 'a step succeeded');
      });
    });

    it('leaves a run that keeps its steps to replicas that read them, and still gives older replicas the others', async () => {
      await onDatabase(backend, async (db) => {
        await db.execute(sql`
          insert into pipelines (id, kind, subject, status, input, steps) values
            ('pip_kept', 'ADD_NODE', 'nod_kept', 'pending', '{}', '[{"name":"OCDN_NODE_HEART","target":null,"params":{},"policy":{}}]'),
            ('pip_rows', 'ADD_NODE', 'nod_rows', 'pending', '{}', null)`);
        /** The call of a replica from before drizzle/0015. */
        const olderClaim = async (id: string) =>
          [...rowsOf<{ run_kind: string; run_fresh: boolean }>(await db.execute(sql`select run_kind, run_fresh from ocdn_claim_lease(${id}, 'older', 10000)`))];
        assert.deepEqual(await olderClaim('pip_kept'), [], 'an older replica would find none of its steps');
        const [kept] = rowsOf<{ lease_owner: string | null; status: string }>(await db.execute(sql`select lease_owner, status from pipelines where id = 'pip_kept'`));
        assert.deepEqual({ ...kept }, { lease_owner: null, status: 'pending' });
        assert.deepEqual(await claimLease(db, 'pip_kept', 'me'), { kind: 'ADD_NODE', subject: 'nod_kept', fresh: true });
        assert.deepEqual(await olderClaim('pip_rows'), [{ run_kind: 'ADD_NODE', run_fresh: true }]);
      });
    });
  });
}
