import { eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { rowsOf } from '../db/migrate.ts';
import { pipelines } from '../db/schema.ts';
import type { PipelineKind } from './types.ts';

/** How long a claim on a run holds without renewal; the executor renews every few seconds. */
export const LEASE_MS = 10_000;

/** Takes the lease of run `id` for `owner` if the run is free and no earlier run on its subject is unfinished. */
export async function claimLease(db: Db, id: string, owner: string): Promise<{ kind: PipelineKind; subject: string } | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select({ subject: pipelines.subject, kind: pipelines.kind, status: pipelines.status })
      .from(pipelines)
      .where(eq(pipelines.id, id));
    if (!row || (row.status !== 'pending' && row.status !== 'running')) return null;
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${'ocdn.pipeline:' + row.subject}))`);
    const res = await tx.execute<{ id: string }>(sql`
      update pipelines p set status = 'running', lease_owner = ${owner},
        lease_until = now() + ${`${LEASE_MS} milliseconds`}::interval, updated_at = now()
      where p.id = ${id} and p.status in ('pending', 'running')
        and (p.lease_owner is null or p.lease_until < now() or p.lease_owner = ${owner})
        and not exists (
          select 1 from pipelines o
          where o.subject = p.subject and o.id <> p.id and o.status in ('pending', 'running')
            and ((o.created_at, o.id) < (p.created_at, p.id) or (o.status = 'running' and o.lease_until > now()))
        )
      returning p.id`);
    return rowsOf(res).length === 1 ? { kind: row.kind as PipelineKind, subject: row.subject } : null;
  });
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
        where id in (select id from pipelines where ${inArray(pipelines.id, ids)} and lease_owner = ${owner} and status = 'running' order by id for update)
        returning id`,
  );
  return new Set(rowsOf<{ id: string }>(res).map((r) => r.id));
}
