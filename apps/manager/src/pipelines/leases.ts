import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { rowsOf } from '../db/migrate.ts';
import { anyOfIds } from '../db/raw.ts';
import type { PipelineKind } from './types.ts';

/** How long a claim on a run holds without renewal; the executor renews every few seconds. */
export const LEASE_MS = 10_000;

/**
 * Takes the lease of run `id` for `owner` if the run is free and no earlier run on its subject is unfinished. One
 * call (`ocdn_claim_run`: drizzle/0010 and 0011, renamed in 0016): the subject's advisory lock, then the update,
 * which sees what any claim that held the lock before it committed. `fresh`: no step of the run has started (every
 * step pending, none tried), so its steps are as they were written. Replicas from before drizzle/0015 call
 * `ocdn_claim_lease`, which no longer gives them runs that keep their steps.
 */
export async function claimLease(db: Db, id: string, owner: string): Promise<{ kind: PipelineKind; subject: string; fresh: boolean } | null> {
  const res = await db.execute(sql`select run_kind, run_subject, run_fresh from ocdn_claim_run(${id}, ${owner}, ${LEASE_MS})`);
  const [row] = rowsOf<{ run_kind: string; run_subject: string; run_fresh: boolean }>(res);
  return row ? { kind: row.run_kind as PipelineKind, subject: row.run_subject, fresh: row.run_fresh } : null;
}

/**
 * Renews, in one statement, the leases `owner` holds on the runs `ids` (those it is executing); returns the ids still
 * held. Only those: a lease whose claim committed while its caller saw an error (the database went away at the
 * commit) belongs to no execution, and renewing it with the rest kept the run from every orphan scan for as long as
 * anything else ran here. The rows are locked in id order first, as the step log's batches lock them: an update
 * alone takes them in whatever order it finds them, and a batch holding one row while waiting for another was a
 * deadlock (seen at 5,000 nodes after a restart).
 */
export async function renewLeases(db: Db, owner: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const res = await db.execute<{ id: string }>(
    sql`update pipelines set lease_until = now() + ${`${LEASE_MS} milliseconds`}::interval
        where id in (select id from pipelines where id = ${anyOfIds(ids)} and lease_owner = ${owner} and status = 'running' order by id for update)
        returning id`,
  );
  return new Set(rowsOf<{ id: string }>(res).map((r) => r.id));
}
