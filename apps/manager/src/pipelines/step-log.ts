import { asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { isDeadlock } from '../db/errors.ts';
import { GroupCommit } from '../db/group-commit.ts';
import { rowsOf } from '../db/migrate.ts';
import { anyOfIds } from '../db/raw.ts';
import { runSteps } from '../db/schema.ts';
import type { RetryPolicy, StepSpec } from './types.ts';

/** What running a step reads of its row. */
export type StepRow = Pick<typeof runSteps.$inferSelect, 'idx' | 'name' | 'target' | 'group' | 'params' | 'policy' | 'status'>;

/** Parsed retry policies by their JSON: a run's steps share a handful of them. */
const policies = new Map<string, RetryPolicy>();

function policyOf(json: string): RetryPolicy {
  let policy = policies.get(json);
  if (!policy) {
    if (policies.size >= 256) policies.clear(); // a bound, should policies ever be made per step
    policy = Object.freeze(JSON.parse(json) as RetryPolicy);
    policies.set(json, policy);
  }
  return policy;
}

/**
 * A run's steps, in order, with what running them needs and nothing else: an executing run holds its rows until it
 * ends, and a rollout executes a thousand runs of hundreds of steps at once (their live heap is what the garbage
 * collector goes through; every column left out and every policy shared is memory not held).
 */
export async function loadSteps(db: Db, pipelineId: string): Promise<StepRow[]> {
  const rows = await db
    .select({
      idx: runSteps.idx,
      name: runSteps.name,
      target: runSteps.target,
      group: runSteps.group,
      params: runSteps.params,
      policy: sql<string>`${runSteps.policy}::text`,
      status: runSteps.status,
    })
    .from(runSteps)
    .where(eq(runSteps.pipelineId, pipelineId))
    .orderBy(asc(runSteps.idx));
  // The same domain, node id, address and step name recur on every row: each read as a string of its own.
  const strings = new Map<string, string>();
  const one = <T extends string | null>(v: T): T => {
    if (v === null) return v;
    const seen = strings.get(v);
    if (seen !== undefined) return seen as T;
    strings.set(v, v);
    return v;
  };
  return rows.map((r) => {
    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r.params)) params[k] = typeof v === 'string' ? one(v) : v;
    return { idx: r.idx, name: one(r.name), target: one(r.target), group: one(r.group), params, policy: policyOf(r.policy), status: r.status };
  });
}

/**
 * A run's steps as loadSteps reads them before any was written: what a replica runs for a run it wrote and claimed
 * before any step of it started (claimLease's `fresh`), instead of reading them back.
 */
export function writtenSteps(steps: readonly StepSpec[]): StepRow[] {
  return steps.map((s, idx) => ({ idx, name: s.name, target: s.target, group: s.group ?? null, params: s.params, policy: s.policy, status: 'pending' }));
}

/** Of the runs `ids` (sorted), those whose lease `owner` holds, locked against a takeover until the transaction ends. */
export function leasedBy(ids: string[], owner: string) {
  return sql`select id from pipelines where id = ${anyOfIds(ids)} and lease_owner = ${owner} order by id for share`;
}

/** One step write. Every write sets the status and the first start; the others say what else changes. */
export interface StepWrite {
  pipelineId: string;
  idx: number;
  status: 'running' | 'succeeded' | 'failed' | 'skipped';
  /** The error to show; undefined keeps the one there. */
  error?: string | null;
  /** The write ends an attempt (attempts + 1). */
  attempt: boolean;
  /** The write ends the step (finished_at = now); otherwise finished_at is cleared. */
  finished: boolean;
}

/**
 * Writes per statement, by database. On the embedded database a batch runs on the manager's thread, and a health
 * decision that arrives meanwhile waits for it to end (db/pglite-lanes.ts): 1,000 writes held the thread 20–40 ms
 * during a rollout, 250 about a quarter of that, for a manager CPU per domain-node within the spread of runs on this
 * code (docs/benchmarks.md). On PostgreSQL a batch runs in the database's own process and stays large.
 */
export const MAX_BATCH = { postgres: 1_000, pglite: 250 } as const;

/**
 * Step outcomes, group-committed. Thousands of steps may finish within a few milliseconds of each other (one
 * domain onto fifty nodes, a thousand domains at once); writing each in its own transaction would make the
 * database the bottleneck. A batch is one transaction: one lock statement and one write (store()), which announces
 * the batch's runs to live events (one notice per run, not a trigger call per step).
 *
 * A write lands only while `owner` holds the run's lease. The runs' rows are locked (FOR SHARE, in id order) before
 * the write, so a cancellation that changes a lease waits for the batch or makes its writes no-ops; a subquery
 * alone is not re-checked by PostgreSQL after a lock wait and let stale writes land over a cancellation.
 */
export class StepLog {
  private readonly log: GroupCommit<StepWrite, boolean>;

  constructor(
    private readonly db: Db,
    private readonly owner: string,
    maxBatch: number = MAX_BATCH.postgres,
  ) {
    this.log = new GroupCommit((writes) => this.commit(writes), (w) => `${w.pipelineId}#${w.idx}`, maxBatch);
  }

  /** Resolves true once the write is committed, false when the run is no longer held by this owner. */
  write(write: StepWrite): Promise<boolean> {
    return this.log.write(write);
  }

  private async commit(writes: StepWrite[]): Promise<boolean[]> {
    // Every statement that locks several runs takes them in id order, so a deadlock should not happen; if one does
    // (PostgreSQL picks a victim), the batch is simply tried again instead of failing every run in it.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.commitOnce(writes);
      } catch (err) {
        if (attempt >= 3 || !isDeadlock(err)) throw err;
      }
    }
  }

  private commitOnce(writes: StepWrite[]): Promise<boolean[]> {
    const ids = [...new Set(writes.map((w) => w.pipelineId))].sort();
    return this.db.transaction(async (tx) => {
      // This transaction announces its runs itself (store() below); the live-events trigger skips its rows.
      const announcing = tx.execute(sql`select set_config('ocdn.steps_announced', 'on', true)`);
      const locked = await tx.execute(leasedBy(ids, this.owner));
      await announcing;
      const held = new Set(rowsOf<{ id: string }>(locked).map((r) => r.id));
      const mine = writes.filter((w) => held.has(w.pipelineId));
      if (mine.length > 0) await this.store(tx, mine);
      return writes.map((w) => held.has(w.pipelineId));
    });
  }

  /** Updates the rows of the steps that have one and inserts the others' (drizzle/0015). */
  private async store(tx: Pick<Db, 'execute'>, mine: StepWrite[]): Promise<void> {
    // One JSON parameter for the whole batch: building a thousand-row VALUES list through the query builder costs
    // more CPU than the database spends running it.
    const rows = mine.map((w) => ({
      pipeline_id: w.pipelineId,
      idx: w.idx,
      status: w.status,
      error: w.error ?? null,
      keep_error: w.error === undefined,
      inc: w.attempt ? 1 : 0,
      finished: w.finished,
    }));
    // A step's row is written with its first outcome (drizzle/0015): the writes to steps that have one update it,
    // the others insert it (state only; the run keeps the rest). The batch's runs are locked, so no other writer adds
    // a row meanwhile. Each run whose steps changed is announced once (live events, drizzle/0007), as the trigger
    // would have done once per step: it skips this transaction's rows (drizzle/0014). Every write sets a status, so
    // every written step is a change a client may show.
    await tx.execute(sql`
      with v as (
        select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
          as v(pipeline_id text, idx int, status text, error text, keep_error boolean, inc int, finished boolean)),
      updated as (
        update pipeline_steps s set
          status = v.status,
          error = case when v.keep_error then s.error else v.error end,
          attempts = s.attempts + v.inc,
          started_at = coalesce(s.started_at, now()),
          finished_at = case when v.finished then now() else null end
        from v
        where s.pipeline_id = v.pipeline_id and s.idx = v.idx
        returning s.pipeline_id, s.idx),
      inserted as (
        insert into pipeline_steps (pipeline_id, idx, status, error, attempts, started_at, finished_at)
        select v.pipeline_id, v.idx, v.status, v.error, v.inc, now(), case when v.finished then now() end
        from v
        where not exists (select 1 from updated u where u.pipeline_id = v.pipeline_id and u.idx = v.idx)
        returning pipeline_id),
      written as (select pipeline_id from updated union select pipeline_id from inserted)
      select pg_notify('ocdn_events', 'pipeline:' || pipeline_id) from written`);
  }
}
