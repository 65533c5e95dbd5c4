import { eq } from 'drizzle-orm';
import { PROTOCOL_VERSION, checkProtocolCompatibility, type NodeHeartbeatResponse } from '@ocdn/protocol';
import type { CoreContext } from '../context.ts';
import { nodes } from '../db/schema.ts';
import type { NodeEndpoint } from '../hub/traffic.ts';

/**
 * OCDN_NODE_HEART — asks one node's agent for its heartbeat (over its socket, else over its HTTP API) and checks
 * that the agent is the node it should be and speaks our protocol.
 */
export async function OCDN_NODE_HEART(ctx: CoreContext, node: NodeEndpoint, timeoutMs: number): Promise<NodeHeartbeatResponse> {
  const beat = await ctx.traffic.call(node, 'node.heartbeat', {}, { timeoutMs });
  if (beat.nodeId !== node.id) throw new Error(`agent at ${node.ip}:${node.agentPort} is node ${beat.nodeId}, not ${node.id}`);
  const compat = checkProtocolCompatibility(beat.protocolVersion, PROTOCOL_VERSION);
  if (!compat.ok) throw new Error(`agent at ${node.ip}: ${compat.reason}`);
  return beat;
}

/**
 * Endpoints by node id, per database. A node's address and port never change after it is created; its token changes
 * when a rotated one takes over, so an entry is read again after ENDPOINT_TTL_MS. The read itself is what is kept:
 * the steps of a rollout's runs that find an entry expired at the same moment share one read (each made its own: ~4
 * reads per domain of a rollout onto 50 nodes, a tenth of its statements).
 */
const endpoints = new WeakMap<object, Map<string, { at: number; endpoint: Promise<NodeEndpoint> }>>();
const ENDPOINT_TTL_MS = 10_000;

/** Loads what OCDN_TRAFFIC needs to reach a node (read once per node: a rollout asks for it thousands of times). */
export function nodeEndpoint(ctx: CoreContext, nodeId: string): Promise<NodeEndpoint> {
  let cache = endpoints.get(ctx.db);
  if (!cache) endpoints.set(ctx.db, (cache = new Map()));
  const known = cache.get(nodeId);
  if (known && Date.now() - known.at < ENDPOINT_TTL_MS) return known.endpoint;
  const entry = { at: Date.now(), endpoint: readEndpoint(ctx, nodeId) };
  cache.set(nodeId, entry);
  // A failed read is not kept: the next step asks again.
  entry.endpoint.catch(() => {
    if (cache.get(nodeId) === entry) cache.delete(nodeId);
  });
  return entry.endpoint;
}

async function readEndpoint(ctx: CoreContext, nodeId: string): Promise<NodeEndpoint> {
  const [row] = await ctx.db
    .select({ id: nodes.id, ip: nodes.ip, agentPort: nodes.agentPort, token: nodes.token, tls: nodes.tls })
    .from(nodes)
    .where(eq(nodes.id, nodeId));
  if (!row) throw new Error(`node ${nodeId} does not exist`);
  return row;
}
