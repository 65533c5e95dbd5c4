import { and, eq, inArray, ne, notInArray, sql } from 'drizzle-orm';
import type { DomainNodeStatus, DomainStatus } from '@ocdn/protocol';
import type { CoreContext, ManagerContext } from '../context.ts';
import { GroupCommit } from '../db/group-commit.ts';
import { rowsOf } from '../db/migrate.ts';
import { rawRows } from '../db/raw.ts';
import { domainNodes, domains, nodes } from '../db/schema.ts';

export type { DomainNodeStatus, DomainStatus };

/**
 * OCDN_DOMAIN_STATUS — sets a domain's status and returns the nodes it is on (not deleted), as the seed says.
 * Idempotent. `nodes: false`: the status alone. A run names its nodes in its steps when it is made
 * (pipelines/definitions.ts), so its steps do not ask: the read was two of fifty rows per domain in a rollout, unused.
 */
export async function OCDN_DOMAIN_STATUS(ctx: CoreContext, domain: string, status: DomainStatus, opts: { nodes?: boolean } = {}): Promise<{ nodeId: string; ip: string }[]> {
  // A step's write, redone with its step should PostgreSQL lose it (Database.bulk).
  // Twice per run: written out (db/raw.ts).
  const rows = await rawRows(ctx.database.bulk, 'update domains set status = $1, updated_at = now() where domain = $2 returning domain', [status, domain]);
  if (rows.length === 0) throw new Error(`domain ${domain} does not exist`);
  if (opts.nodes === false) return [];
  return ctx.db
    .select({ nodeId: domainNodes.nodeId, ip: nodes.ip })
    .from(domainNodes)
    .innerJoin(nodes, eq(nodes.id, domainNodes.nodeId))
    .where(and(eq(domainNodes.domain, domain), ne(domainNodes.status, 'delete')));
}

/** A write of OCDN_DOMAIN_NODE; `requireNormal`: `complete` only while the node is `normal` (see OCDN_DOMAIN_NODE). */
interface DomainNodeWrite {
  domain: string;
  nodeId: string;
  status: DomainNodeStatus;
  requireNormal: boolean;
}

/** What became of a write: `written`; `kept` (a guard left the row as it was, see OCDN_DOMAIN_NODE); `missing`. */
export type DomainNodeOutcome = 'written' | 'kept' | 'missing';

/** Status writes of domains on nodes, group-committed across every run: a rollout sets fifty thousand of them. */
export class DomainNodeWrites {
  private readonly writes: GroupCommit<DomainNodeWrite, DomainNodeOutcome>;

  constructor(db: ManagerContext['db']) {
    // One statement for every status set while the previous statement was in flight. The guards are in the
    // statement, so that they see the node's and the row's status of the moment the write lands.
    this.writes = new GroupCommit(
      async (batch) => {
        const rows = batch.map((w) => ({ domain: w.domain, node_id: w.nodeId, status: w.status, require_normal: w.requireNormal }));
        const res = await db.execute(sql`
          with v as (
            select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
              as v(domain text, node_id text, status text, require_normal boolean)
          ), written as (
            update domain_nodes d set status = v.status, updated_at = now()
            from v
            where d.domain = v.domain and d.node_id = v.node_id
              and not (v.status = 'fault' and d.status = 'delete')
              and not (v.require_normal and exists (select 1 from nodes n where n.id = d.node_id and n.status <> 'normal'))
            returning d.domain, d.node_id
          )
          select d.domain, d.node_id, exists (select 1 from written w where w.domain = d.domain and w.node_id = d.node_id) as written
          from domain_nodes d join v on d.domain = v.domain and d.node_id = v.node_id`);
        const found = new Map(rowsOf<{ domain: string; node_id: string; written: boolean }>(res).map((r) => [`${r.domain} ${r.node_id}`, r.written]));
        return batch.map((w) => {
          const written = found.get(`${w.domain} ${w.nodeId}`);
          return written === undefined ? 'missing' : written ? 'written' : 'kept';
        });
      },
      (w) => `${w.domain} ${w.nodeId}`,
    );
  }

  write(domain: string, nodeId: string, status: DomainNodeStatus, requireNormal = false): Promise<DomainNodeOutcome> {
    return this.writes.write({ domain, nodeId, status, requireNormal });
  }
}

/**
 * OCDN_DOMAIN_NODE — sets the status of a domain on one node. Idempotent. Two writes that would land out of turn
 * (steps of different runs are not ordered against each other) leave the row as it is instead:
 * - with `requireNormal` (the runs that bring a domain to a node), `complete` is written only while the node is
 *   `normal`: a node that failed after its address was published is marked `fault` by its FAULT_NODE, whichever of
 *   the two writes lands first, and `complete` again by its RECOVER_NODE;
 * - `fault` never replaces `delete`: a domain removed from a node stays removed when the node then fails.
 * Returns what became of the write.
 */
export async function OCDN_DOMAIN_NODE(
  writes: DomainNodeWrites,
  domain: string,
  nodeId: string,
  status: DomainNodeStatus,
  requireNormal = false,
): Promise<DomainNodeOutcome> {
  const outcome = await writes.write(domain, nodeId, status, requireNormal);
  if (outcome === 'missing') throw new Error(`domain ${domain} is not on node ${nodeId}`);
  return outcome;
}

/** The live domains a node serves (not deleted on it, not being deleted): what the node pipelines act on. */
export async function domainsOfNode(db: Pick<ManagerContext['db'], 'select'>, nodeId: string): Promise<string[]> {
  return (await domainsOfNodes(db, [nodeId])).get(nodeId) ?? [];
}

/** domainsOfNode for many nodes in one statement: each node's domains in order (a node with none is absent). */
export async function domainsOfNodes(db: Pick<ManagerContext['db'], 'select'>, nodeIds: string[]): Promise<Map<string, string[]>> {
  const byNode = new Map<string, string[]>();
  if (nodeIds.length === 0) return byNode;
  const rows = await db
    .select({ nodeId: domainNodes.nodeId, domain: domainNodes.domain })
    .from(domainNodes)
    .innerJoin(domains, eq(domains.domain, domainNodes.domain))
    .where(and(inArray(domainNodes.nodeId, nodeIds), ne(domainNodes.status, 'delete'), notInArray(domains.status, ['deleting', 'delete'])))
    .orderBy(domainNodes.nodeId, domainNodes.domain);
  for (const r of rows) {
    const list = byNode.get(r.nodeId);
    if (list) list.push(r.domain);
    else byNode.set(r.nodeId, [r.domain]);
  }
  return byNode;
}

/** The ips of the other nodes of a domain in the given domain-node statuses, with their node status. */
export async function otherNodesOf(ctx: Pick<ManagerContext, 'db'>, domain: string, nodeId: string, statuses: DomainNodeStatus[]): Promise<{ ip: string; nodeStatus: string }[]> {
  return ctx.db
    .select({ ip: nodes.ip, nodeStatus: nodes.status })
    .from(domainNodes)
    .innerJoin(nodes, eq(nodes.id, domainNodes.nodeId))
    .where(and(eq(domainNodes.domain, domain), ne(domainNodes.nodeId, nodeId), inArray(domainNodes.status, statuses)));
}
