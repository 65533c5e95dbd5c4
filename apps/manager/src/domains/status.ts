import { and, eq, inArray, ne, notInArray, sql } from 'drizzle-orm';
import type { DomainNodeStatus, DomainStatus } from '@ocdn/protocol';
import type { CoreContext, ManagerContext } from '../context.ts';
import { GroupCommit } from '../db/group-commit.ts';
import { rowsOf } from '../db/migrate.ts';
import { domainNodes, domains, nodes } from '../db/schema.ts';

export type { DomainNodeStatus, DomainStatus };

/**
 * OCDN_DOMAIN_STATUS — sets a domain's status and returns the nodes it is on (not deleted), as the seed says.
 * Idempotent.
 */
export async function OCDN_DOMAIN_STATUS(ctx: CoreContext, domain: string, status: DomainStatus): Promise<{ nodeId: string; ip: string }[]> {
  const rows = await ctx.db.update(domains).set({ status, updatedAt: new Date() }).where(eq(domains.domain, domain)).returning({ domain: domains.domain });
  if (rows.length === 0) throw new Error(`domain ${domain} does not exist`);
  return ctx.db
    .select({ nodeId: domainNodes.nodeId, ip: nodes.ip })
    .from(domainNodes)
    .innerJoin(nodes, eq(nodes.id, domainNodes.nodeId))
    .where(and(eq(domainNodes.domain, domain), ne(domainNodes.status, 'delete')));
}

/** Status writes of domains on nodes, group-committed across every run: a rollout sets fifty thousand of them. */
export class DomainNodeWrites {
  private readonly writes: GroupCommit<{ domain: string; nodeId: string; status: DomainNodeStatus }, boolean>;

  constructor(db: ManagerContext['db']) {
    // One statement for every status set while the previous statement was in flight.
    this.writes = new GroupCommit(
      async (batch) => {
        const rows = batch.map((w) => ({ domain: w.domain, node_id: w.nodeId, status: w.status }));
        const res = await db.execute(sql`
          update domain_nodes d set status = v.status, updated_at = now()
          from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as v(domain text, node_id text, status text)
          where d.domain = v.domain and d.node_id = v.node_id
          returning d.domain, d.node_id`);
        const found = new Set(rowsOf<{ domain: string; node_id: string }>(res).map((r) => `${r.domain} ${r.node_id}`));
        return batch.map((w) => found.has(`${w.domain} ${w.nodeId}`));
      },
      (w) => `${w.domain} ${w.nodeId}`,
    );
  }

  write(domain: string, nodeId: string, status: DomainNodeStatus): Promise<boolean> {
    return this.writes.write({ domain, nodeId, status });
  }
}

/** OCDN_DOMAIN_NODE — sets the status of a domain on one node. Idempotent. */
export async function OCDN_DOMAIN_NODE(writes: DomainNodeWrites, domain: string, nodeId: string, status: DomainNodeStatus): Promise<void> {
  if (!(await writes.write(domain, nodeId, status))) throw new Error(`domain ${domain} is not on node ${nodeId}`);
}

/** The live domains a node serves (not deleted on it, not being deleted): what the node pipelines act on. */
export async function domainsOfNode(db: Pick<ManagerContext['db'], 'select'>, nodeId: string): Promise<string[]> {
  const rows = await db
    .select({ domain: domainNodes.domain })
    .from(domainNodes)
    .innerJoin(domains, eq(domains.domain, domainNodes.domain))
    .where(and(eq(domainNodes.nodeId, nodeId), ne(domainNodes.status, 'delete'), notInArray(domains.status, ['deleting', 'delete'])))
    .orderBy(domainNodes.domain);
  return rows.map((r) => r.domain);
}

/** The ips of the other nodes of a domain in the given domain-node statuses, with their node status. */
export async function otherNodesOf(ctx: Pick<ManagerContext, 'db'>, domain: string, nodeId: string, statuses: DomainNodeStatus[]): Promise<{ ip: string; nodeStatus: string }[]> {
  return ctx.db
    .select({ ip: nodes.ip, nodeStatus: nodes.status })
    .from(domainNodes)
    .innerJoin(nodes, eq(nodes.id, domainNodes.nodeId))
    .where(and(eq(domainNodes.domain, domain), ne(domainNodes.nodeId, nodeId), inArray(domainNodes.status, statuses)));
}
