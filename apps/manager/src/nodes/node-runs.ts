import { and, desc, eq, inArray } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { nodes, pipelines } from '../db/schema.ts';
import type { PipelineEngine } from '../pipelines/engine.ts';
import { domainsOfNodes } from '../domains/status.ts';
import { FAULT_NODE, RECOVER_NODE } from '../pipelines/definitions.ts';

export type HealthRunKind = 'FAULT_NODE' | 'RECOVER_NODE';

/** What writing decisions needs: the manager's context, or the health watch thread's connection and hand-over. */
export interface RunStarterContext {
  database: Pick<Database, 'urgent'>;
  engine: Pick<PipelineEngine, 'enqueueMany' | 'dispatch'>;
  log: { warn(fields: Record<string, unknown>, msg: string): void; error(fields: Record<string, unknown>, msg: string): void };
}

interface Decision {
  node: { id: string; ip: string };
  kind: HealthRunKind;
}

/** Decisions one transaction writes at most. */
const MAX_BATCH = 500;

/**
 * Writes the health monitor's decisions — a node is faulty (status `fault` and a FAULT_NODE run), or answering
 * again (a RECOVER_NODE run) — many to a transaction, on connections of their own (`database.urgent`: behind a
 * rollout's statements on the main pool, a dead node stayed `normal`, and in DNS answers, for the better part of a
 * second). One transaction per decision wrote 15–40 a second on a busy manager: when 19,500 agents lost their link
 * at once, their faults were still being written ten minutes later, and every recovery queued behind them.
 * Decisions queue while a transaction is being written and go together in the next one.
 *
 * Runs on one subject execute oldest first, by their creation time, and one transaction gives all its runs the
 * same time: a node decided twice (faulty, then answering again) has its second decision in a later transaction.
 * A node with an unfinished run of the same kind gets no second one, and a node already faulty (not `normal`, its
 * latest decision FAULT_NODE) no second FAULT_NODE: the health watch thread writes decisions too.
 */
export class NodeRunStarter {
  private queue: Decision[] = [];
  private writing = false;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Waiting for the decisions under way to be written (settled()). */
  private settles: (() => void)[] = [];

  /**
   * `deciding`: whether this replica still decides (it runs the health monitor). A transaction that fails (the
   * database away) is tried again every `retryMs` while it does; a replica that stopped deciding drops what it had.
   */
  constructor(
    private readonly ctx: RunStarterContext,
    private readonly deciding: () => boolean = () => true,
    private readonly retryMs = 1_000,
    /**
     * A node is decided faulty only while its row says `normal` (the health watch thread: its list of nodes may be a
     * moment old). The monitor itself also decides a node that is `fault` and recovering.
     */
    private readonly faultOnlyIfNormal = false,
  ) {}

  start(node: { id: string; ip: string }, kind: HealthRunKind): void {
    if (this.stopped) return;
    this.queue.push({ node, kind });
    if (this.writing) return;
    this.writing = true;
    // Written once the code that decided returns (what else it decides joins the first batch), not a turn of the
    // event loop later: on a busy manager a turn is a stretch of pipeline work. Decisions made meanwhile (a whole
    // fleet's sockets closing, one callback each) are the next batch, written as soon as this one is.
    queueMicrotask(() => void this.drain());
  }

  /** Drops what is not written yet; a transaction under way still ends. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.queue = [];
    this.idle();
  }

  /** Resolves once every decision asked for until now is written (or dropped): at once when none is under way. */
  settled(): Promise<void> {
    if (!this.writing) return Promise.resolve();
    return new Promise((resolve) => this.settles.push(resolve));
  }

  /** Decisions are waiting or being written. */
  get busy(): boolean {
    return this.writing;
  }

  /** Decisions waiting to be written (not counting a transaction under way). */
  get backlog(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.stopped) {
      const batch = this.takeBatch();
      try {
        const started = await this.write(batch);
        for (const run of started) {
          this.ctx.engine.dispatch(run.id, { kind: run.kind }).catch((err: unknown) => this.ctx.log.error({ err, pipelineId: run.id }, `could not start ${run.kind}`));
        }
      } catch (err) {
        if (this.stopped || !this.deciding()) {
          for (const d of batch) this.ctx.log.error({ err, nodeId: d.node.id }, `could not start ${d.kind}; this replica no longer decides`);
          continue;
        }
        // Tried again as it was (first in line): a decision whose transaction did commit finds its run and is skipped.
        this.ctx.log.warn({ err, decisions: batch.length, retryMs: this.retryMs }, 'could not write health decisions; trying again');
        this.queue.unshift(...batch);
        this.retry = setTimeout(() => void this.drain(), this.retryMs);
        return;
      }
    }
    this.writing = false;
    this.idle();
  }

  private idle(): void {
    const settles = this.settles;
    this.settles = [];
    for (const settle of settles) settle();
  }

  /** The oldest decisions, up to the first one about a node already in the batch. */
  private takeBatch(): Decision[] {
    const seen = new Set<string>();
    let n = 0;
    while (n < this.queue.length && n < MAX_BATCH && !seen.has(this.queue[n]!.node.id)) seen.add(this.queue[n++]!.node.id);
    return this.queue.splice(0, n);
  }

  private write(batch: Decision[]): Promise<{ id: string; kind: HealthRunKind }[]> {
    return this.ctx.database.urgent.transaction(async (tx) => {
      const ids = batch.map((d) => d.node.id);
      // The nodes' rows first: two writers (the monitor and its watch thread) deciding the same node take turns, and
      // the second sees the first one's run below.
      const rows = await tx.select({ id: nodes.id, status: nodes.status }).from(nodes).where(inArray(nodes.id, ids)).orderBy(nodes.id).for('update'); // in one order: no deadlock
      const normal = new Set(rows.filter((r) => r.status === 'normal').map((r) => r.id));
      // Each node's latest run of each kind: one unfinished means the same decision is under way; a node that is not
      // `normal` and whose latest decision was FAULT_NODE is faulty already (decided by the other writer a moment ago,
      // its run perhaps finished by now). A FAULT_NODE while RECOVER_NODE was the latest is a new failure.
      const latest = await tx
        .selectDistinctOn([pipelines.subject, pipelines.kind], { subject: pipelines.subject, kind: pipelines.kind, status: pipelines.status, createdAt: pipelines.createdAt })
        .from(pipelines)
        .where(and(inArray(pipelines.subject, ids), inArray(pipelines.kind, ['FAULT_NODE', 'RECOVER_NODE'])))
        .orderBy(pipelines.subject, pipelines.kind, desc(pipelines.createdAt));
      const last = new Map(latest.map((r) => [`${r.kind} ${r.subject}`, r]));
      const unfinished = (kind: HealthRunKind, id: string) => ['pending', 'running'].includes(last.get(`${kind} ${id}`)?.status ?? '');
      const faultyAlready = (id: string) => {
        const fault = last.get(`FAULT_NODE ${id}`)?.createdAt.getTime() ?? -Infinity;
        return !normal.has(id) && fault > (last.get(`RECOVER_NODE ${id}`)?.createdAt.getTime() ?? -Infinity);
      };
      const todo = batch.filter((d) => {
        if (unfinished(d.kind, d.node.id)) return false;
        if (d.kind !== 'FAULT_NODE') return true;
        return !faultyAlready(d.node.id) && !(this.faultOnlyIfNormal && !normal.has(d.node.id));
      });
      if (todo.length === 0) return [];
      // A failed node is `fault` from the moment this is decided, not once its run gets a turn among thousands of
      // others (its first step, OCDN_NODE_STATUS, then finds it so). Its addresses leave DNS in the run.
      const faulty = todo.filter((d) => d.kind === 'FAULT_NODE').map((d) => d.node.id);
      if (faulty.length > 0) {
        await tx
          .update(nodes)
          .set({ status: 'fault', updatedAt: new Date() })
          .where(and(inArray(nodes.id, faulty), eq(nodes.status, 'normal')));
      }
      const domains = await domainsOfNodes(tx, todo.map((d) => d.node.id));
      const specs = todo.map((d) => (d.kind === 'FAULT_NODE' ? FAULT_NODE : RECOVER_NODE)(d.node, domains.get(d.node.id) ?? []));
      const runIds = await this.ctx.engine.enqueueMany(tx, specs);
      return runIds.map((id, i) => ({ id, kind: todo[i]!.kind }));
    });
  }
}
