import { and, eq, inArray, sql } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { GroupCommit } from '../db/group-commit.ts';
import { rowsOf } from '../db/migrate.ts';
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
 * publishes batched across domains: what reaches OCDN_MODIFI_DNS while a batch is being written goes in the next one,
 * with one read for all of its domains and nodes. One per manager.
 */
export class DomainDns {
  private readonly tails = new Map<string, Promise<unknown>>();
  /** Keyed by domain and node: a node published twice for a domain goes in two batches, in order. */
  private readonly publisher = new GroupCommit<Publish, PublishResult>((batch) => this.publishBatch(batch), (r) => `${r.domain}\0${r.nodeId}`);

  constructor(readonly ctx: Pick<ManagerContext, 'db' | 'database' | 'dns'>) {}

  /** Runs `fn` after every earlier DNS change of `domain`. */
  serial<T>(domain: string, fn: () => Promise<T>): Promise<T> {
    return this.serialMany([domain], fn);
  }

  /**
   * Runs `fn` after every earlier DNS change of each of `domains`; later changes of any of them wait for it. The
   * order is taken at once for all of them, so two such calls never wait for each other in a circle.
   */
  async serialMany<T>(domains: readonly string[], fn: () => Promise<T>): Promise<T> {
    const before = domains.map((d) => this.tails.get(d)).filter((p) => p !== undefined);
    const next = Promise.all(before.map((p) => p.catch(() => {}))).then(fn);
    for (const d of domains) this.tails.set(d, next);
    try {
      return await next;
    } finally {
      for (const d of domains) if (this.tails.get(d) === next) this.tails.delete(d);
    }
  }

  publish(req: Publish): Promise<PublishResult> {
    return this.publisher.write(req);
  }

  /** Marks an address as kept only because every node of the domain is down (fail open), or not. */
  setKept(domain: string, nodeId: string, kept: boolean): Promise<unknown> {
    // A step's write (fail open, one per domain of a failed node), redone with its step should PostgreSQL lose it.
    return this.ctx.database.bulk.update(domainNodes).set({ dnsKept: kept }).where(and(eq(domainNodes.domain, domain), eq(domainNodes.nodeId, nodeId)));
  }

  private publishBatch(batch: Publish[]): Promise<PublishResult[]> {
    const byDomain = new Map<string, Publish[]>();
    for (const r of batch) {
      const list = byDomain.get(r.domain);
      if (list) list.push(r);
      else byDomain.set(r.domain, [r]);
    }
    const domains = [...byDomain.keys()];
    return this.serialMany(domains, async () => {
      const rows = await publishState(this.ctx.db, batch, domains);
      const results = new Map<Publish, PublishResult>();
      await Promise.all([...byDomain].map(([d, reqs]) => this.publishDomain(d, reqs, rows.get(d) ?? new Map(), results)));
      return batch.map((r) => results.get(r) ?? null);
    });
  }

  /** One domain's part of a batch, given the state of its nodes in the batch and of those kept (fail open). */
  private async publishDomain(domain: string, reqs: Publish[], byNode: Map<string, NodeState>, results: Map<Publish, PublishResult>): Promise<void> {
    const { db, dns } = this.ctx;
    await Promise.all(
      reqs.map(async (r) => {
        const me = byNode.get(r.nodeId);
        // A node that failed since the domain was planned is published by its RECOVER_NODE, not here.
        if (r.requireNormal && me?.nodeStatus !== 'normal') {
          results.set(r, { permanent: true, message: `node ${r.ip} is ${me?.nodeStatus ?? 'gone'}; it is published when it recovers` });
          return;
        }
        try {
          await dns.provider.upsert(r.name, r.ip);
          results.set(r, null);
        } catch (error) {
          results.set(r, { permanent: false, error });
        }
      }),
    );
    const published = reqs.filter((r) => results.get(r) === null);
    if (published.length === 0) return;
    const keptHere = published.filter((r) => byNode.get(r.nodeId)?.kept).map((r) => r.nodeId);
    if (keptHere.length) await db.update(domainNodes).set({ dnsKept: false }).where(and(eq(domainNodes.domain, domain), inArray(domainNodes.nodeId, keptHere)));
    // Kept addresses of other nodes leave now that a node serves again.
    const ids = new Set(reqs.map((r) => r.nodeId));
    for (const other of [...byNode.values()].filter((n) => n.kept && !ids.has(n.nodeId))) {
      await dns.provider.remove(published[0]!.name, other.ip);
      await this.setKept(domain, other.nodeId, false);
      published[0]!.log.info({ domain, ip: other.ip }, 'withdrew an address kept while every node was down');
    }
  }
}

interface NodeState {
  nodeId: string;
  ip: string;
  kept: boolean;
  nodeStatus: string;
}

/**
 * The state of a batch's nodes under its domains, and the addresses its domains keep only because every node was
 * down (fail open): one statement, one SQL text whatever the batch's size (the pairs and domains are JSON).
 */
async function publishState(db: ManagerContext['db'], batch: Publish[], domains: string[]): Promise<Map<string, Map<string, NodeState>>> {
  const pairs = JSON.stringify(batch.map((r) => ({ d: r.domain, n: r.nodeId })));
  // Two parts, not one `or`: each finds its rows by the primary key (domain, node) instead of reading every row.
  const res = await db.execute(sql`
    select dn.domain, dn.node_id as "nodeId", n.ip, dn.dns_kept as kept, n.status as "nodeStatus"
    from jsonb_to_recordset(${pairs}::jsonb) as x(d text, n text)
    join ${domainNodes} dn on dn.domain = x.d and dn.node_id = x.n
    join ${nodes} n on n.id = dn.node_id
    union all
    select dn.domain, dn.node_id, n.ip, dn.dns_kept, n.status
    from ${domainNodes} dn join ${nodes} n on n.id = dn.node_id
    where dn.dns_kept and dn.domain in (select jsonb_array_elements_text(${JSON.stringify(domains)}::jsonb))`);
  const byDomain = new Map<string, Map<string, NodeState>>();
  for (const { domain, ...row } of rowsOf<NodeState & { domain: string }>(res)) {
    let m = byDomain.get(domain);
    if (!m) byDomain.set(domain, (m = new Map()));
    m.set(row.nodeId, row);
  }
  return byDomain;
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
