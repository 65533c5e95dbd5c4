import { sql } from 'drizzle-orm';
import type { PipelineKind } from './types.ts';

/**
 * Runs that bring or take one domain, admitted within a budget of domain-nodes. A node's health runs (FAULT_NODE,
 * RECOVER_NODE) have a limit of their own and never wait behind domain runs: a failed node leaves DNS at once however
 * many domains are queued. ADD_NODE and REMOVE_NODE never wait (an ADD_NODE may wait an hour for its agent: counted,
 * two hundred nodes registered before their agents would hold every failover back).
 */
const DOMAIN_KINDS: ReadonlySet<PipelineKind> = new Set<PipelineKind>(['ADD_DOMAIN', 'REMOVE_DOMAIN', 'UPDATE_DOMAIN', 'JOIN_NODE']);
const HEALTH_KINDS: ReadonlySet<PipelineKind> = new Set<PipelineKind>(['FAULT_NODE', 'RECOVER_NODE']);

/** The weight of a health run: counted against the limit of health runs, not the domain-node budget. */
export const HEALTH_RUN = -1;

/**
 * What a run weighs: its nodes for a domain run (its input's nodeIds, or one), HEALTH_RUN for FAULT_NODE and
 * RECOVER_NODE, 0 (never waits) otherwise.
 */
export function runWeight(kind: PipelineKind, input: { nodeIds?: unknown } | null | undefined): number {
  if (HEALTH_KINDS.has(kind)) return HEALTH_RUN;
  if (!DOMAIN_KINDS.has(kind)) return 0;
  return Array.isArray(input?.nodeIds) ? Math.max(1, input.nodeIds.length) : 1;
}

const kindList = (kinds: ReadonlySet<PipelineKind>) => [...kinds].map((k) => `'${k}'`).join(', ');

/**
 * runWeight in SQL over a row of `pipelines`, for the reads that kick runs found in the table; written out (the kinds
 * are this file's constants) for the statements that are (db/raw.ts).
 */
export const WEIGHT_SQL_TEXT = `case when kind in (${kindList(DOMAIN_KINDS)})
  then greatest(1, coalesce(jsonb_array_length(case when jsonb_typeof(input->'nodeIds') = 'array' then input->'nodeIds' end), 1))
  when kind in (${kindList(HEALTH_KINDS)}) then ${HEALTH_RUN}
  else 0 end`;
export const WEIGHT_SQL = sql.raw(WEIGHT_SQL_TEXT).mapWith(Number);

/**
 * Which runs a replica executes now and which wait their turn. Each executing run holds its steps and one chain per
 * node in memory: 10,000 domains onto 100 nodes at once grew the manager's heap to its limit and its API stopped
 * answering. Domain runs are admitted while the domain-nodes of those executing stay within the budget; the rest
 * wait (still `pending` in the table), oldest first — a later run waits behind an older one even when it would fit.
 * A run larger than the whole budget executes alone.
 *
 * Health runs (HEALTH_RUN) are counted apart: up to `maxHealthRuns` execute at once, the rest wait in the order they
 * came. When 19,500 agents lost their link at once, 39,000 FAULT_NODE and RECOVER_NODE runs executing together spent
 * the database on lease claims (every orphan scan claimed each waiting RECOVER_NODE again) and no step ran for
 * minutes. Weight 0 is always admitted.
 */
export class RunAdmission {
  private readonly waiting = new Map<string, number>();
  private inFlight = 0;
  /** Health runs waiting, in the order they were offered. */
  private readonly waitingHealthRuns = new Set<string>();
  private healthRuns = 0;

  constructor(
    private readonly maxDomainNodes: number,
    private readonly maxHealthRuns = Number.POSITIVE_INFINITY,
  ) {}

  /** True: execute `id` now (it is counted until release). False: it waits (or waited already). */
  offer(id: string, weight: number): boolean {
    if (this.isWaiting(id)) return false;
    if (weight === 0) return true;
    if (weight === HEALTH_RUN) {
      if (this.waitingHealthRuns.size > 0 || this.healthRuns >= this.maxHealthRuns) {
        this.waitingHealthRuns.add(id);
        return false;
      }
      this.healthRuns++;
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
    if (weight === 0) return admitted;
    if (weight === HEALTH_RUN) {
      this.healthRuns--;
      for (const id of this.waitingHealthRuns) {
        if (this.healthRuns >= this.maxHealthRuns) break;
        this.waitingHealthRuns.delete(id);
        this.healthRuns++;
        admitted.push({ id, weight: HEALTH_RUN });
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
    return this.waiting.has(id) || this.waitingHealthRuns.has(id);
  }

  /** Forgets the waiting runs (they stay pending in the table for whoever looks next). */
  clear(): void {
    this.waiting.clear();
    this.waitingHealthRuns.clear();
  }

  get waitingRuns(): number {
    return this.waiting.size + this.waitingHealthRuns.size;
  }

  get domainNodes(): number {
    return this.inFlight;
  }

  private fits(weight: number): boolean {
    return this.inFlight === 0 || this.inFlight + weight <= this.maxDomainNodes;
  }
}
