import { connect } from 'node:net';
import { eq } from 'drizzle-orm';
import { PROTOCOL_VERSION, checkProtocolCompatibility, type NodeHeartbeatResponse } from '@ocdn/protocol';
import type { CoreContext } from '../context.ts';
import { nodes } from '../db/schema.ts';
import type { NodeEndpoint } from '../hub/traffic.ts';
import { afterPendingIo } from '../hub/lag.ts';

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
 * Whether anything accepts a TCP connection on the agent's port: `refused` (the host answered that nothing listens
 * there — the agent's process is gone), `timeout` (no answer at all — the host is down or cut off), or `open`. One
 * connect is one turn of the event loop, against a dozen for an HTTP request: on a busy manager each turn waits, and
 * a dead agent's port answers at once.
 */
export function agentPortState(node: Pick<NodeEndpoint, 'ip' | 'agentPort'>, timeoutMs: number): Promise<'open' | 'refused' | 'timeout'> {
  return new Promise((resolve) => {
    const socket = connect({ host: node.ip, port: node.agentPort });
    let settled = false;
    const done = (state: 'open' | 'refused' | 'timeout') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(state);
    };
    // A connect that completed while this thread was busy is reported in the poll phase after the timers.
    const timer = setTimeout(() => afterPendingIo(() => done('timeout')), timeoutMs);
    socket.once('connect', () => done('open'));
    // ECONNREFUSED, and the host's other answers (unreachable): nothing there to answer a heartbeat either
    socket.once('error', () => done('refused'));
  });
}

/**
 * Endpoints by node id, per database. A node's address and port never change after it is created; its token changes
 * when a rotated one takes over, so an entry is read again after ENDPOINT_TTL_MS.
 */
const endpoints = new WeakMap<object, Map<string, NodeEndpoint & { at: number }>>();
const ENDPOINT_TTL_MS = 10_000;

/** Loads what OCDN_TRAFFIC needs to reach a node (read once per node: a rollout asks for it thousands of times). */
export async function nodeEndpoint(ctx: CoreContext, nodeId: string): Promise<NodeEndpoint> {
  let cache = endpoints.get(ctx.db);
  if (!cache) endpoints.set(ctx.db, (cache = new Map()));
  const known = cache.get(nodeId);
  if (known && Date.now() - known.at < ENDPOINT_TTL_MS) return known;
  const [row] = await ctx.db
    .select({ id: nodes.id, ip: nodes.ip, agentPort: nodes.agentPort, token: nodes.token, tls: nodes.tls })
    .from(nodes)
    .where(eq(nodes.id, nodeId));
  if (!row) throw new Error(`node ${nodeId} does not exist`);
  const endpoint = { ...row, at: Date.now() };
  cache.set(nodeId, endpoint);
  return endpoint;
}
