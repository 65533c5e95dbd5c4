import { and, eq, inArray, or } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { GroupCommit } from '../db/group-commit.ts';
import { domainNodes, nodes } from '../db/schema.ts';
import { otherNodesOf } from '../domains/status.ts';
import type { Logger } from '../log.ts';
import { PermanentStepError } from '../pipelines/types.ts';

/** One address of a domain's published name, as OCDN_MODIFI_DNS and OCDN_DEL_DNS take it. */
export interface DomainAddress {
  domain: string;
  /** The published name, `<subDomain>.<OCDN_DNS_ZONE>`. */
  name: string;
  nodeId: string;
  ip: string;
  /** The step's logger; may be made when first read (never spread an address). */
  log: Logger;
}

interface Publish extends DomainAddress {
  requireNormal?: boolean | undefined;
}
type PublishResult = { permanent: true; message: string } | { permanent: false; error: unknown } | null;

/**
 * The DNS changes of each domain, one at a time (publishing and fail-open withdrawals never interleave), and the
 * publishes of one domain batched: a domain's nodes reach OCDN_MODIFI_DNS together and share one read, one record
 * write and one turn of the domain's lock. One per manager.
 */
export class DomainDns {
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly publishers = new Map<string, GroupCommit<Publish, PublishResult>>();

  constructor(readonly ctx: Pick<ManagerContext, 'db' | 'database' | 'dns'>) {}

  /** Runs `fn` after every earlier DNS change of `domain`. */
  async serial<T>(domain: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.tails.get(domain) ?? Promise.resolve()).catch(() => {}).then(fn);
    this.tails.set(domain, next);
    try {
      return await next;
    } finally {
      if (this.tails.get(domain) === next) this.tails.delete(domain);
    }
  }

  async publish(req: Publish): Promise<PublishResult> {
    let batcher = this.publishers.get(req.domain);
    if (!batcher) {
      batcher = new GroupCommit((batch) => this.serial(req.domain, () => this.publishBatch(req.domain, batch)), (r) => r.nodeId);
      this.publishers.set(req.domain, batcher);
    }
    try {
      return await batcher.write(req);
    } finally {
      if (batcher.idle && this.publishers.get(req.domain) === batcher) this.publishers.delete(req.domain);
    }
  }

  /** Marks an address as kept only because every node of the domain is down (fail open), or not. */
  setKept(domain: string, nodeId: string, kept: boolean): Promise<unknown> {
    // A step's write (fail open, one per domain of a failed node), redone with its step should PostgreSQL lose it.
    return this.ctx.database.bulk.update(domainNodes).set({ dnsKept: kept }).where(and(eq(domainNodes.domain, domain), eq(domainNodes.nodeId, nodeId)));
  }

  private async publishBatch(domain: string, batch: Publish[]): Promise<PublishResult[]> {
    const { db, dns } = this.ctx;
    const ids = batch.map((r) => r.nodeId);
    // These nodes' state and the addresses kept only because every node was down (fail open), in one read.
    const rows = await db
      .select({ nodeId: domainNodes.nodeId, ip: nodes.ip, kept: domainNodes.dnsKept, nodeStatus: nodes.status })
      .from(domainNodes)
      .innerJoin(nodes, eq(nodes.id, domainNodes.nodeId))
      .where(and(eq(domainNodes.domain, domain), or(inArray(domainNodes.nodeId, ids), eq(domainNodes.dnsKept, true))));
    const byNode = new Map(rows.map((r) => [r.nodeId, r]));
    const results: PublishResult[] = await Promise.all(
      batch.map(async (r) => {
        const me = byNode.get(r.nodeId);
        // A node that failed since the domain was planned is published by its RECOVER_NODE, not here.
        if (r.requireNormal && me?.nodeStatus !== 'normal') {
          return { permanent: true, message: `node ${r.ip} is ${me?.nodeStatus ?? 'gone'}; it is published when it recovers` };
        }
        try {
          await dns.provider.upsert(r.name, r.ip);
          return null;
        } catch (error) {
          return { permanent: false, error };
        }
      }),
    );
    const published = batch.filter((_, i) => results[i] === null);
    if (published.length === 0) return results;
    const keptHere = published.filter((r) => byNode.get(r.nodeId)?.kept).map((r) => r.nodeId);
    if (keptHere.length) await db.update(domainNodes).set({ dnsKept: false }).where(and(eq(domainNodes.domain, domain), inArray(domainNodes.nodeId, keptHere)));
    // Kept addresses of other nodes leave now that a node serves again.
    for (const other of rows.filter((r) => r.kept && !ids.includes(r.nodeId))) {
      await dns.provider.remove(published[0]!.name, other.ip);
      await this.setKept(domain, other.nodeId, false);
      published[0]!.log.info({ domain, ip: other.ip }, 'withdrew an address kept while every node was down');
    }
    return results;
  }
}

/**
 * OCDN_MODIFI_DNS — publishes a node's address under the domain's name. With `requireNormal`, only while the node is
 * `normal` (a node that failed since is published by its RECOVER_NODE). Addresses kept while every node was down
 * leave once a node serves again. Idempotent.
 */
export async function OCDN_MODIFI_DNS(dd: DomainDns, req: DomainAddress & { requireNormal?: boolean | undefined }): Promise<void> {
  const failure = await dd.publish(req); // as it is: a spread would make its logger (DomainAddress.log)
  // The provider's own error, as it was: the engine tells a database outage from a failed publish by it.
  if (failure) throw failure.permanent ? new PermanentStepError(failure.message) : failure.error;
}

/**
 * OCDN_DEL_DNS — withdraws a node's address from the domain's name. With `failOpen` (FAULT_NODE), the address stays
 * when no other node of the domain serves: like Route 53's health checks, a dead address beats no answer, and the
 * domain shows `failOpen` until a node recovers. Idempotent.
 */
export async function OCDN_DEL_DNS(dd: DomainDns, req: DomainAddress & { failOpen?: boolean | undefined }): Promise<void> {
  await dd.serial(req.domain, async () => {
    if (req.failOpen) {
      const serving = (await otherNodesOf(dd.ctx, req.domain, req.nodeId, ['complete'])).filter((o) => o.nodeStatus === 'normal');
      if (serving.length === 0) {
        await dd.setKept(req.domain, req.nodeId, true);
        req.log.warn({ domain: req.domain, ip: req.ip }, 'every node of the domain is down; keeping its address published');
        return;
      }
    }
    await dd.ctx.dns.provider.remove(req.name, req.ip);
    await dd.setKept(req.domain, req.nodeId, false);
  });
}
