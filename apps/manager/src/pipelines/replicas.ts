import { createHash } from 'node:crypto';
import { and, eq, gt, isNotNull, ne, sql } from 'drizzle-orm';
import type { Database, Lock } from '../db/client.ts';
import { rowsOf } from '../db/migrate.ts';
import { pipelines } from '../db/schema.ts';
import type { Logger } from '../log.ts';

/** Owners that hold a liveness lock end with this (an owner without it — an older replica — is judged by its leases). */
export const LIVE_SUFFIX = '+live';

/** The advisory lock key that stands for a replica's session: 48 bits of its owner id's hash. */
export function replicaKey(owner: string): number {
  return createHash('sha256').update(`ocdn.replica:${owner}`).digest().readUIntBE(0, 6);
}

/**
 * Replicas' liveness from their PostgreSQL sessions (several replicas on one database). Each replica holds an
 * advisory lock of its own on a connection of its own; PostgreSQL releases it the moment that session ends — the
 * process died, or its connection did. Every `periodMs` each replica looks at the owners of the leases it does not
 * hold: an owner whose lock can be taken is gone, and its leases end now (the orphan scan then resumes its runs)
 * instead of running out their remaining seconds. A replica whose own lock's connection is gone stops executing at
 * once (`onSelfLost`): another replica may be taking its runs over.
 */
export class ReplicaWatch {
  private lock: Lock | null = null;
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<void> | null = null;

  constructor(
    private readonly database: Database,
    private readonly owner: string,
    private readonly log: Logger,
    private readonly onPeerGone: () => void,
    private readonly onSelfLost: () => void,
    private readonly periodMs = 1000,
  ) {}

  async start(): Promise<void> {
    if (this.database.kind !== 'postgres') return; // one process per embedded database
    this.lock = await this.database.tryLock(replicaKey(this.owner));
    this.timer = setInterval(() => void this.look(), this.periodMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.looking;
    await this.lock?.release().catch(() => {});
    this.lock = null;
  }

  look(): Promise<void> {
    this.looking ??= this.once()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'replica liveness check failed'))
      .finally(() => (this.looking = null));
    return this.looking;
  }

  private async once(): Promise<void> {
    if (!this.lock || !(await this.lock.alive())) {
      if (this.lock) {
        this.lock = null;
        this.log.error('lost the database session that says this replica is alive; stopping the runs executing here');
        this.onSelfLost();
      }
      // Back once the database is: a lock of this owner again (its runs were released or taken over meanwhile).
      this.lock = await this.database.tryLock(replicaKey(this.owner)).catch(() => null);
      return;
    }
    const db = this.database.db;
    const owners = await db
      .selectDistinct({ owner: pipelines.leaseOwner })
      .from(pipelines)
      .where(and(eq(pipelines.status, 'running'), isNotNull(pipelines.leaseOwner), ne(pipelines.leaseOwner, this.owner), gt(pipelines.leaseUntil, sql`now()`)));
    let gone = 0;
    for (const { owner } of owners) {
      if (!owner?.endsWith(LIVE_SUFFIX)) continue;
      const ended = await db.transaction(async (tx) => {
        const [row] = rowsOf<{ free: boolean }>(await tx.execute(sql`select pg_try_advisory_xact_lock(${replicaKey(owner)}::bigint) as free`));
        if (!row?.free) return 0;
        // Rows locked in id order, as every statement that locks several runs does (no deadlock with a step batch).
        const res = await tx.execute(sql`
          update pipelines set lease_until = now()
          where id in (select id from pipelines where lease_owner = ${owner} and status = 'running' and lease_until > now() order by id for update)
          returning id`);
        return rowsOf(res).length;
      });
      if (ended > 0) {
        this.log.warn({ replica: owner, runs: ended }, 'a replica is gone (its database session ended); taking its runs over');
        gone++;
      }
    }
    if (gone > 0) this.onPeerGone();
  }
}
