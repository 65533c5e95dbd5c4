import { and, eq, inArray } from 'drizzle-orm';
import { CloseCode, type NodeStatus } from '@ocdn/protocol';
import type { CoreContext } from '../context.ts';
import { nodes } from '../db/schema.ts';

/** Which statuses a node may move to `status` from. */
const ALLOWED_FROM: Record<NodeStatus, NodeStatus[]> = {
  new: [],
  normal: ['new', 'normal', 'fault'],
  fault: ['normal', 'fault'],
  deleting: ['new', 'normal', 'fault', 'deleting'],
  delete: ['deleting', 'delete'],
};

/**
 * OCDN_NODE_STATUS — moves a node to `status` (idempotent: the same status again is a success) and returns the
 * domains it serves, so the pipeline can act on them. A move the node's current status does not allow fails.
 */
export async function OCDN_NODE_STATUS(ctx: CoreContext, nodeId: string, status: NodeStatus): Promise<{ domains: string[] }> {
  const rows = await ctx.db
    .update(nodes)
    .set({ status, updatedAt: new Date() })
    .where(and(eq(nodes.id, nodeId), inArray(nodes.status, ALLOWED_FROM[status])))
    .returning({ id: nodes.id });
  if (rows.length === 0) {
    const [row] = await ctx.db.select({ status: nodes.status }).from(nodes).where(eq(nodes.id, nodeId));
    if (!row) throw new Error(`node ${nodeId} does not exist`);
    throw new Error(`node ${nodeId} is ${row.status}; it cannot become ${status}`);
  }
  if (status === 'delete') ctx.hub.disconnect(nodeId, CloseCode.nodeDeleted, 'node deleted');
  // Domains served by the node come with the CDN pipelines.
  return { domains: [] };
}
