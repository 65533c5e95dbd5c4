import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import PgBoss from 'pg-boss';
import { afterCommit, inUnitOfWork } from '../db/ambient.ts';
import type { Database, Db } from '../db/client.ts';
import { claimLease, renewLeases } from './leases.ts';
import { LIVE_SUFFIX, ReplicaWatch } from './replicas.ts';
import { RunAdmission, WEIGHT_SQL, WEIGHT_SQL_TEXT, runWeight } from './admission.ts';
import { rawRows } from '../db/raw.ts';
import { SubjectWakers } from './wakers.ts';
import { enqueueRuns, failUnfinishedSteps, queueRuns, type QueuedRun } from './enqueue.ts';
import { MAX_BATCH, StepLog, loadSteps, writtenSteps, type StepRow } from './step-log.ts';
import { SafetyNetJobs } from './safety-net.ts';
import { memoizer, runBlock, runStep, type StepRun, type StepRunDeps } from './step-runner.ts';
import { pipelines, pipelineSteps } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { HandOver, PipelineKind, PipelineSpec, StepSpec, StoredStepHandlers } from './types.ts';

const QUEUE = 'ocdn-pipeline';
const RENEW_MS = 3_000;
const ORPHAN_SCAN_MS = 5_000;
const SAFETY_NET_DELAY_S = 15; // pg-boss looks at a run this long after it was created (its creator finishes it first)

type DbOrTx = Db | Parameters<Parameters<Db['transaction']>[0]>[0];

class Cancelled extends Error {}

export interface EngineOptions {
  database: Database;
  log: Logger;
  metrics: Metrics;
  handlers: StoredStepHandlers;
  /** Called when a run reaches succeeded or failed. */
  onFinished?(id: string, kind: PipelineKind, status: 'succeeded' | 'failed', subject: string): void;
  /** Steps on a node that failed meanwhile, left to what follows the node's failure (see HandOver). */
  handOver?: HandOver;
  /**
   * Domain-nodes the domain runs executing here may hold at once (OCDN_PIPELINE_MAX_DOMAIN_NODES, RunAdmission): a
   * domain onto 50 nodes counts 50; later runs wait their turn.
   */
  maxDomainNodes?: number;
  /** FAULT_NODE and RECOVER_NODE runs executing here at once (OCDN_PIPELINE_MAX_HEALTH_RUNS); more wait their turn. */
  maxHealthRuns?: number;
}

/**
 * Runs pipelines: durable, ordered steps stored in the database.
 *
 * A run starts at once in the replica that created it (the fast path). Whoever executes a run holds a lease on its
 * row and renews it; a replica that dies stops renewing and another takes the run over at the step it was in.
 * Runs on the same subject execute one at a time, oldest first. pg-boss is the safety net that makes sure every
 * unfinished run is looked at by some replica; it never drives the steps itself.
 */
export class PipelineEngine {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}${LIVE_SUFFIX}`;
  private readonly db: Db;
  /** The engine's own bookkeeping (step outcomes, leases, a run's end): commits that do not wait for the flush (Database.bulk). */
  private readonly bulk: Db;
  private readonly boss: PgBoss;
  private readonly safetyNets: SafetyNetJobs; // the queue's jobs, many to an insert
  private readonly steps: StepLog;
  private readonly stepDeps: StepRunDeps;
  private readonly running = new Map<string, Promise<void>>();
  private readonly admission: RunAdmission;
  private readonly aborts = new Map<string, AbortController>();
  /** Backoff sleeps end early when the subject is woken; drive() wakes the subject of an aborted run. */
  private readonly wakers = new SubjectWakers();
  private stopped = false;
  private orphanTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly replicas: ReplicaWatch;

  constructor(private readonly opts: EngineOptions) {
    this.db = opts.database.db;
    this.bulk = opts.database.bulk;
    this.admission = new RunAdmission(opts.maxDomainNodes ?? 50_000, opts.maxHealthRuns ?? 200);
    this.steps = new StepLog(this.bulk, this.owner, MAX_BATCH[opts.database.kind]);
    this.stepDeps = {
      handlers: opts.handlers,
      steps: this.steps,
      metrics: opts.metrics,
      sleep: (subject, ms, signal) => this.wakers.sleep(subject, ms, signal),
      ...(opts.handOver ? { handedOver: (run: StepRun, step: StepRow) => (step.group === null ? Promise.resolve(null) : opts.handOver!.reason(run, step)) } : {}),
    };
    this.boss = new PgBoss({
      ...opts.database.boss,
      schema: 'pgboss',
      schedule: false,
      supervise: true,
      maintenanceIntervalSeconds: 30,
    } as PgBoss.ConstructorOptions);
    this.boss.on('error', (err) => opts.log.error({ err }, 'pg-boss error'));
    this.safetyNets = new SafetyNetJobs(this.boss, QUEUE, SAFETY_NET_DELAY_S);
    this.replicas = new ReplicaWatch(
      opts.database,
      this.owner,
      opts.log,
      () => void this.resumeOrphans().catch((err: unknown) => opts.log.warn({ err }, 'orphan scan failed')),
      () => {
        for (const ac of this.aborts.values()) ac.abort(new Cancelled('this replica lost its database session'));
      },
    );
  }

  async start(): Promise<void> {
    await this.boss.start();
    await this.boss.createQueue(QUEUE, { name: QUEUE, retryLimit: 100_000, retryDelay: SAFETY_NET_DELAY_S, expireInSeconds: 120 });
    for (let i = 0; i < 4; i++) {
      await this.boss.work<{ pipelineId: string }>(QUEUE, { pollingIntervalSeconds: 2 }, async ([job]) => {
        if (job) await this.safetyNet(job.data.pipelineId);
      });
    }
    if (this.opts.database.kind === 'pglite') {
      // One process per embedded database (lock file): any lease left in it belongs to a dead process.
      await this.db
        .update(pipelines)
        .set({ leaseOwner: null, leaseUntil: null })
        .where(inArray(pipelines.status, ['pending', 'running']));
    }
    await this.replicas.start();
    await this.resumeOrphans();
    // A replica that dies stops renewing its leases; whoever looks next takes its runs over.
    this.orphanTimer = setInterval(() => {
      this.resumeOrphans().catch((err: unknown) => this.opts.log.warn({ err }, 'orphan scan failed'));
    }, ORPHAN_SCAN_MS);
    this.orphanTimer.unref();
    this.renewTimer = setInterval(() => {
      this.renewLeases().catch((err: unknown) => this.opts.log.warn({ err }, 'lease renewal failed'));
    }, RENEW_MS);
    this.renewTimer.unref();
  }

  /**
   * Renews the leases of every run executing here in one statement (thousands of runs may be waiting at once);
   * a run whose lease is gone (cancelled, or taken over after a stall) is aborted.
   */
  private async renewLeases(): Promise<void> {
    if (this.aborts.size === 0) return;
    // Only runs that were executing before the statement can be judged by its answer: a run leased while it was
    // in flight is simply not in it yet.
    const before = new Map(this.aborts);
    const held = await renewLeases(this.bulk, this.owner, [...before.keys()]);
    for (const [id, ac] of before) {
      if (!held.has(id) && this.aborts.get(id) === ac) ac.abort(new Cancelled('lease lost'));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.orphanTimer);
    clearInterval(this.renewTimer);
    for (const ac of this.aborts.values()) ac.abort(new Cancelled('manager stopping'));
    this.admission.clear();
    await Promise.allSettled([...this.running.values()]);
    await this.replicas.stop(); // after the runs let go of their leases: nobody takes over a run still executing
    await this.boss.stop({ graceful: true, wait: true, timeout: 5_000 });
  }

  /** Inserts a run and its steps in the caller's transaction. Call dispatch(id, spec) after the transaction commits. */
  async enqueue(tx: DbOrTx, spec: PipelineSpec): Promise<string> {
    return (await this.queue(tx, spec)).id;
  }

  /** enqueue() with the run as written, for an answer that shows it (queuedView) without reading it back. */
  async queue(tx: DbOrTx, spec: PipelineSpec): Promise<QueuedRun> {
    return (await queueRuns(tx, [spec]))[0]!;
  }

  /** enqueue() for many runs in one statement, their ids in the order of `specs`. */
  enqueueMany(tx: DbOrTx, specs: PipelineSpec[]): Promise<string[]> {
    return enqueueRuns(tx, specs);
  }

  /**
   * Cancels the unfinished runs of `kinds` on a subject (e.g. REMOVE_NODE supersedes a waiting ADD_NODE), in the
   * caller's transaction. Returns their ids; call abortLocal(ids) after commit.
   */
  async cancelUnfinished(tx: DbOrTx, subject: string, kinds: PipelineKind[], reason: string): Promise<string[]> {
    const rows = await tx
      .update(pipelines)
      .set({ status: 'failed', leaseOwner: null, leaseUntil: null, finishedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(pipelines.subject, subject), inArray(pipelines.kind, kinds), inArray(pipelines.status, ['pending', 'running'])))
      .returning({ id: pipelines.id });
    const ids = rows.map((r) => r.id);
    if (ids.length > 0) await failUnfinishedSteps(tx, ids, `cancelled: ${reason}`);
    return ids;
  }

  abortLocal(ids: string[]): void {
    afterCommit(() => {
      for (const id of ids) this.aborts.get(id)?.abort(new Cancelled('cancelled'));
    });
  }

  /**
   * Makes a committed run durable in the queue and starts it here. Inside a unit of work (an admin request) this
   * happens once the unit commits: the run is not visible before that.
   */
  async dispatch(id: string, spec: { kind: PipelineKind; input?: PipelineSpec['input']; steps?: readonly StepSpec[] }): Promise<void> {
    if (inUnitOfWork()) {
      afterCommit(() => this.dispatch(id, spec).catch((err: unknown) => this.opts.log.error({ err, pipelineId: id }, 'could not queue a committed run; the orphan scan picks it up')));
      return;
    }
    // Started first: the safety net is for a replica that dies, and a run is committed already (the orphan scan
    // finds it even if the job below is never written). Under load the queue's insert waits its turn.
    this.kick(id, runWeight(spec.kind, spec.input), spec.steps);
    if (this.stopped) return; // the queue is closed; the next replica's orphan scan finds the run
    await this.safetyNets.add(id);
  }

  /** A failed run resumes at its failed step. Returns false when the run is not failed. */
  async retry(id: string): Promise<boolean> {
    const run = await this.db.transaction(async (tx) => {
      const rows = await tx
        .update(pipelines)
        .set({ status: 'pending', finishedAt: null, updatedAt: new Date() })
        .where(and(eq(pipelines.id, id), eq(pipelines.status, 'failed')))
        .returning({ kind: pipelines.kind, input: pipelines.input });
      if (rows.length === 0) return null;
      await tx
        .update(pipelineSteps)
        .set({ status: 'pending', finishedAt: null })
        .where(and(eq(pipelineSteps.pipelineId, id), inArray(pipelineSteps.status, ['failed', 'skipped'])));
      return rows[0]!;
    });
    if (!run) return false;
    await this.dispatch(id, { kind: run.kind as PipelineKind, input: run.input });
    return true;
  }

  /** Wakes runs on `subject` that are waiting out a backoff (e.g. the node's agent just connected). */
  wake(subject: string): void {
    this.wakers.wake(subject);
  }

  /** Resolves when the local execution of `id`, if any, ends. */
  async settled(id: string): Promise<void> {
    await this.running.get(id);
  }

  /**
   * Starts executing a run in this process unless it already is, or queues it while the runs here hold their budget
   * (`weight`: runWeight; HEALTH_RUN is counted apart, 0 never waits). Safe to call from anywhere, any number of times.
   * `written`: its steps as written here, run if it starts now and no step of it started (else they are read).
   */
  kick(id: string, weight: number, written?: readonly StepSpec[]): void {
    if (this.stopped || this.running.has(id)) return;
    if (this.admission.offer(id, weight)) this.execute(id, weight, written);
  }

  /** Runs executing here, runs waiting for room, and the domain-nodes of those executing (the metrics). */
  load(): { executing: number; waiting: number; domainNodes: number } {
    return { executing: this.running.size, waiting: this.admission.waitingRuns, domainNodes: this.admission.domainNodes };
  }

  private execute(id: string, weight: number, written?: readonly StepSpec[]): void {
    const p = this.drive(id, written)
      .catch((err: unknown) => this.opts.log.error({ err, pipelineId: id }, 'pipeline executor crashed'))
      .finally(() => {
        this.running.delete(id);
        for (const next of this.admission.release(weight)) this.execute(next.id, next.weight);
      });
    this.running.set(id, p);
  }

  /** Kicks every unfinished run nobody holds a live lease on. */
  async resumeOrphans(): Promise<number> {
    const rows = await this.db
      .select({ id: pipelines.id, weight: WEIGHT_SQL })
      .from(pipelines)
      .where(
        and(
          inArray(pipelines.status, ['pending', 'running']),
          sql`(${pipelines.leaseUntil} is null or ${pipelines.leaseUntil} < now())`,
        ),
      )
      .orderBy(asc(pipelines.createdAt));
    for (const r of rows) this.kick(r.id, r.weight);
    return rows.length;
  }

  private async safetyNet(id: string): Promise<void> {
    const run = await this.statusOf(id);
    if (run === null || run.status === 'succeeded' || run.status === 'failed') return;
    this.kick(id, run.weight);
    // Executing here: until it ends; waiting its turn here: the whole while, as for a run that takes that long.
    const never = new Promise(() => {});
    await Promise.race([this.running.get(id) ?? (this.admission.isWaiting(id) ? never : undefined), new Promise((r) => setTimeout(r, 20_000).unref())]);
    const after = (await this.statusOf(id))?.status;
    if (after === 'pending' || after === 'running') throw new Error(`pipeline ${id} is still ${after}; looking again later`);
  }

  private async statusOf(id: string): Promise<{ status: string; weight: number } | null> {
    const [row] = await this.db.select({ status: pipelines.status, weight: WEIGHT_SQL }).from(pipelines).where(eq(pipelines.id, id));
    return row ?? null;
  }

  private lease(id: string): Promise<{ kind: PipelineKind; subject: string; fresh: boolean } | null> {
    return claimLease(this.bulk, id, this.owner);
  }

  private async drive(id: string, written?: readonly StepSpec[]): Promise<void> {
    const leased = await this.lease(id);
    if (!leased) return;
    const { kind, subject } = leased;
    const log = this.opts.log.child({ pipelineId: id, kind, subject });
    const ac = new AbortController();
    this.aborts.set(id, ac);
    // An abort ends the run's backoff sleeps through one listener: a listener per sleep, with a group per node all
    // waiting at once, is a warning from Node past ten of them.
    ac.signal.addEventListener('abort', () => this.wake(subject), { once: true });
    // stop() aborted the runs it knew of; one whose lease it was claiming meanwhile lets go at once.
    if (this.stopped) ac.abort(new Cancelled('manager stopping'));
    const started = Date.now();
    let outcome: 'succeeded' | 'failed' | 'released' = 'released';
    try {
      outcome = await this.runSteps(id, kind, subject, ac.signal, log, written && leased.fresh ? writtenSteps(written) : undefined);
    } catch (err) {
      if (!(err instanceof Cancelled) && !(ac.signal.reason instanceof Cancelled)) throw err;
      log.info({ reason: String(ac.signal.reason?.message ?? err) }, 'pipeline execution stopped');
    } finally {
      this.aborts.delete(id);
      if (outcome === 'released') {
        await this.bulk
          .update(pipelines)
          .set({ leaseOwner: null, leaseUntil: null })
          .where(and(eq(pipelines.id, id), eq(pipelines.leaseOwner, this.owner)))
          .catch(() => {});
      }
    }
    if (outcome !== 'released') {
      log.info({ status: outcome, ms: Date.now() - started }, 'pipeline finished');
      this.opts.metrics.pipelineRuns.inc({ kind, status: outcome });
      this.opts.onFinished?.(id, kind, outcome, subject);
    }
    if (!this.stopped) await this.kickNext(subject);
  }

  private async runSteps(
    id: string,
    kind: PipelineKind,
    subject: string,
    signal: AbortSignal,
    log: Logger,
    written?: StepRow[],
  ): Promise<'succeeded' | 'failed'> {
    const steps = written ?? (await loadSteps(this.db, id));
    const run: StepRun = { id, kind, subject, signal, log, memo: memoizer() };
    let someGroupFailed = false;
    for (let i = 0; i < steps.length; ) {
      const step = steps[i]!;
      if (step.group === null) {
        if ((await runStep(this.stepDeps, run, step)) !== 'succeeded') return this.failRun(id);
        i++;
        continue;
      }
      // A block: each group's steps in order, the groups side by side.
      let end = i;
      while (end < steps.length && steps[end]!.group !== null) end++;
      const outcomes = await runBlock(this.stepDeps, run, steps.slice(i, end), this.opts.handOver?.skipsRest(kind) ?? false);
      // Not one group done (all failed, or every node went): the run failed, to be retried.
      if (!outcomes.includes('succeeded')) return this.failRun(id);
      if (outcomes.includes('failed')) someGroupFailed = true;
      i = end;
    }
    // Runs with a failed group went on for the others; they end failed so that the failed steps can be retried.
    if (someGroupFailed) return this.failRun(id);
    await this.finish(id, 'succeeded');
    return 'succeeded';
  }

  private async failRun(id: string): Promise<'failed'> {
    await this.finish(id, 'failed');
    return 'failed';
  }

  private async finish(id: string, status: 'succeeded' | 'failed'): Promise<void> {
    await this.bulk
      .update(pipelines)
      .set({ status, finishedAt: new Date(), updatedAt: new Date(), leaseOwner: null, leaseUntil: null })
      .where(and(eq(pipelines.id, id), eq(pipelines.leaseOwner, this.owner)));
  }

  private async kickNext(subject: string): Promise<void> {
    // After every run: written out (db/raw.ts).
    const [next] = await rawRows<{ id: string; weight: number }>(this.db, KICK_NEXT, [subject]);
    if (next) this.kick(next.id, next.weight);
  }

}

/** The oldest unfinished run on a subject: the one to start when the run before it ends. */
const KICK_NEXT = `select id, ${WEIGHT_SQL_TEXT} as weight from pipelines
  where subject = $1 and status in ('pending', 'running') order by created_at, id limit 1`;
