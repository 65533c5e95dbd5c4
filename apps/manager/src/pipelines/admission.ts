import { sql } from 'drizzle-orm';
import { pipelines } from '../db/schema.ts';
import type { PipelineKind } from './types.ts';

/**
 * Runs that bring or take one domain, admitted within a budget of domain-nodes. Node runs (ADD_NODE, REMOVE_NODE,
 * FAULT_NODE, RECOVER_NODE) have a limit of their own and never wait behind domain runs: a failed node leaves DNS
 * at once however many domains are queued.
 */
const DOMAIN_KINDS: ReadonlySet<PipelineKind> = new Set<PipelineKind>(['ADD_DOMAIN', 'REMOVE_DOMAIN', 'UPDATE_DOMAIN', 'JOIN_NODE']);

/** What a run weighs against the budget: its nodes for a domain run (its input's nodeIds, or one), 0 otherwise. */
export function runWeight(kind: PipelineKind, input: { nodeIds?: unknown } | null | undefined): number {
  if (!DOMAIN_KINDS.has(kind)) return 0;
  return Array.isArray(input?.nodeIds) ? Math.max(1, input.nodeIds.length) : 1;
}

/** runWeight in SQL, for the reads that kick runs found in the table. */
export const WEIGHT_SQL = sql<number>`case when ${pipelines.kind} in (${sql.join([...DOMAIN_KINDS].map((k) => sql`${k}`), sql`, `)})
  then greatest(1, coalesce(jsonb_array_length(case when jsonb_typeof(${pipelines.input}->'nodeIds') = 'array' then ${pipelines.input}->'nodeIds' end), 1))
  else 0 end`.mapWith(Number);

/**
 * Which runs a replica executes now and which wait their turn. Each executing run holds its steps and one chain per
 * node in memory: 10,000 domains onto 100 nodes at once grew the manager's heap to its limit and its API stopped
 * answering. Domain runs are admitted while the domain-nodes of those executing stay within the budget; the rest
 * wait (still `pending` in the table), oldest first — a later run waits behind an older one even when it would fit.
 * A run larger than the whole budget executes alone.
 *
 * Node runs (weight 0) are counted apart: up to `maxNodeRuns` execute at once, the rest wait in the order they came.
 * When 19,500 agents lost their link at once, 39,000 FAULT_NODE and RECOVER_NODE runs executing together spent the
 * database on lease claims (every orphan scan claimed each waiting RECOVER_NODE again) and no step ran for minutes.
 */
export class RunAdmission {
  private readonly waiting = new Map<string, number>();
  private inFlight = 0;
  /** Node runs waiting, in the order they were offered. */
  private readonly waitingNodeRuns = new Set<string>();
  private nodeRuns = 0;

  constructor(
    private readonly maxDomainNodes: number,
    private readonly maxNodeRuns = Number.POSITIVE_INFINITY,
  ) {}

  /** True: execute `id` now (it is counted until release). False: it waits (or waited already). */
  offer(id: string, weight: number): boolean {
    if (this.isWaiting(id)) return false;
    if (weight === 0) {
      if (this.waitingNodeRuns.size > 0 || this.nodeRuns >= this.maxNodeRuns) {
        this.waitingNodeRuns.add(id);
        return false;
      }
      this.nodeRuns++;
      return true;
    }
    if (this.waiting.size > 0 || !this.fits(weight)) {
      this.waiting.set(id, weight);
      return false;
    }
    this.inFlight += weight;
    return true;
  }

  /** A run admitted with `weight` ended: returns the waiting runs that fit now, oldest first, counted in. */
  release(weight: number): { id: string; weight: number }[] {
    const admitted: { id: string; weight: number }[] = [];
    if (weight === 0) {
      this.nodeRuns--;
      for (const id of this.waitingNodeRuns) {
        if (this.nodeRuns >= this.maxNodeRuns) break;
        this.waitingNodeRuns.delete(id);
        this.nodeRuns++;
        admitted.push({ id, weight: 0 });
      }
      return admitted;
    }
    this.inFlight -= weight;
    for (const [id, w] of this.waiting) {
      if (!this.fits(w)) break;
      this.waiting.delete(id);
      this.inFlight += w;
      admitted.push({ id, weight: w });
    }
    return admitted;
  }

  isWaiting(id: string): boolean {
    return this.waiting.has(id) || this.waitingNodeRuns.has(id);
  }

  /** Forgets the waiting runs (they stay pending in the table for whoever looks next). */
  clear(): void {
    this.waiting.clear();
    this.waitingNodeRuns.clear();
  }

  get waitingRuns(): number {
    return this.waiting.size + this.waitingNodeRuns.size;
  }

  get domainNodes(): number {
    return this.inFlight;
  }

  private fits(weight: number): boolean {
    return this.inFlight === 0 || this.inFlight + weight <= this.maxDomainNodes;
  }
}
