import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { and, asc, eq, inArray, ne, or, sql } from 'drizzle-orm';
import type { NodeRole, NodeStatus } from '@ocdn/protocol';
import { sha256 } from '../access/digest.ts';
import type { ManagerContext } from '../context.ts';
import { nodes, pipelines } from '../db/schema.ts';
import { newId } from '../ids.ts';
import { ServiceError } from '../errors.ts';
import { afterTime, pageOfRows, PAGE_MAX, timeKey, toMs, type Page, type PageRequest } from '../http/pages.ts';
import { ADD_NODE, REMOVE_NODE } from '../pipelines/definitions.ts';
import { domainsOfNode } from '../domains/status.ts';
import { queuedView, type PipelineView } from '../pipelines/service.ts';

export interface NodeView {
  id: string;
  name: string;
  ip: string;
  roles: NodeRole[];
  agentPort: number;
  status: NodeStatus;
  connected: boolean;
  lastHeartbeatAt: string | null;
  agentVersion: string | null;
  /** When a second agent using this node's token last knocked this one off (shown for ten minutes), else null. */
  duplicateAgentAt: string | null;
  /** The agent serves its HTTP API over TLS: the manager reaches it over https only. */
  tls: boolean;
  /** A rotated token waits for the agent: the previous one is accepted until then. Null when none waits. */
  oldTokenValidUntil: string | null;
}

type NodeRow = typeof nodes.$inferSelect;

export function toNodeView(ctx: Pick<ManagerContext, 'hub' | 'env'>, row: NodeRow): NodeView {
  const local = ctx.hub.get(row.id);
  const known = ctx.hub.lastKnown(row.id);
  // A socket held by another replica shows as a recent heartbeat (flushed in batches every few seconds).
  const recent =
    row.lastHeartbeatAt !== null &&
    Date.now() - row.lastHeartbeatAt.getTime() < Math.max(10_000, 3 * ctx.env.OCDN_HEARTBEAT_INTERVAL_MS);
  return {
    id: row.id,
    name: row.name,
    ip: row.ip,
    roles: row.roles,
    agentPort: row.agentPort,
    status: row.status,
    // An agent that left this replica is not connected, unless another replica has heard from it since.
    connected: local ? local.open : row.status !== 'delete' && recent && !(known && (row.lastHeartbeatAt?.getTime() ?? 0) <= known.lastSeenAt),
    lastHeartbeatAt: latest(known?.lastSeenAt, row.lastHeartbeatAt),
    agentVersion: known?.agentVersion ?? row.agentVersion,
    duplicateAgentAt: iso(ctx.hub.duplicateSeenAt(row.id)),
    tls: row.tls,
    oldTokenValidUntil: row.nextTokenHash && row.oldTokenUntil ? row.oldTokenUntil.toISOString() : null,
  };
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

function latest(memory: number | undefined, stored: Date | null): string | null {
  const t = Math.max(memory ?? 0, stored?.getTime() ?? 0);
  return t > 0 ? new Date(t).toISOString() : null;
}

export interface CreateNodeInput {
  name: string;
  ip: string;
  roles: NodeRole[];
  agentPort?: number | undefined;
  /** Default: true when the manager has OCDN_AGENT_CA (agents serve TLS), else false. */
  tls?: boolean | undefined;
}

/** Registers a node and starts ADD_NODE. The token is returned here and never again. */
export async function createNode(
  ctx: ManagerContext,
  input: CreateNodeInput,
): Promise<{ node: NodeView; token: string; pipeline: PipelineView }> {
  const ip = normalizeIp(input.ip);
  const id = newId('nod');
  const { token, secret } = newNodeToken(id);
  const { row, run } = await ctx.db.transaction(async (tx) => {
    const clash = await tx
      .select({ id: nodes.id, name: nodes.name, ip: nodes.ip })
      .from(nodes)
      .where(and(ne(nodes.status, 'delete'), or(eq(nodes.name, input.name), eq(nodes.ip, ip))));
    if (clash.length > 0) {
      const other = clash[0]!;
      const field = other.name === input.name ? 'name' : 'ip';
      throw new ServiceError('conflict', `a node with this ${field} exists already (${other.id})`, { field, nodeId: other.id });
    }
    const [row] = await tx
      .insert(nodes)
      .values({
        id,
        name: input.name,
        ip,
        roles: [...new Set(input.roles)],
        agentPort: input.agentPort ?? 8081,
        status: 'new',
        tls: input.tls ?? ctx.env.OCDN_AGENT_CA !== undefined,
        token,
        tokenHash: sha256(secret).toString('hex'),
      })
      .returning();
    return { row: row!, run: await ctx.engine.queue(tx, ADD_NODE({ id, ip })) };
  });
  await ctx.engine.dispatch(run.id, run.spec);
  ctx.log.info({ nodeId: id, ip, roles: row.roles, pipelineId: run.id }, 'node registered');
  return { node: toNodeView(ctx, row), token, pipeline: queuedView(run) };
}

/** A page of nodes in the order they were registered. */
export async function listNodes(ctx: ManagerContext, q: PageRequest = { limit: PAGE_MAX }): Promise<Page<NodeView>> {
  const where = q.cursor ? afterTime(nodes.createdAt, nodes.id, q.cursor) : undefined;
  const rows = await ctx.db.select().from(nodes).where(where).orderBy(toMs(nodes.createdAt), asc(nodes.id)).limit(q.limit + 1);
  const page = pageOfRows(rows, q.limit, (r) => timeKey(r.createdAt, r.id));
  return { items: page.rows.map((r) => toNodeView(ctx, r)), nextCursor: page.nextCursor };
}

export async function getNodeRow(ctx: Pick<ManagerContext, 'db'>, id: string): Promise<NodeRow> {
  const [row] = await ctx.db.select().from(nodes).where(eq(nodes.id, id));
  if (!row) throw new ServiceError('not_found', `node ${id} not found`);
  return row;
}

/** A node route's `:id`: the node's id (`nod_…`), or the name of a live node, as operators type it. */
export async function resolveNodeRef(ctx: Pick<ManagerContext, 'db'>, ref: string): Promise<string> {
  if (ref.startsWith('nod_')) return ref;
  const [row] = await ctx.db.select({ id: nodes.id }).from(nodes).where(and(eq(nodes.name, ref), ne(nodes.status, 'delete')));
  if (!row) throw new ServiceError('not_found', `node ${ref} not found (give its id, nod_…, or the name of a live node)`);
  return row.id;
}

export async function getNode(ctx: ManagerContext, ref: string): Promise<NodeView> {
  return toNodeView(ctx, await getNodeRow(ctx, await resolveNodeRef(ctx, ref)));
}

/** Starts REMOVE_NODE; a waiting ADD_NODE or pending health run of the node is cancelled. */
export async function deleteNode(ctx: ManagerContext, ref: string): Promise<{ pipeline: PipelineView }> {
  const id = await resolveNodeRef(ctx, ref);
  const { run, cancelled } = await ctx.db.transaction(async (tx) => {
    const [row] = await tx.select().from(nodes).where(eq(nodes.id, id)).for('update');
    if (!row) throw new ServiceError('not_found', `node ${id} not found`);
    if (row.status === 'deleting' || row.status === 'delete') {
      throw new ServiceError('conflict', `node ${id} is ${row.status === 'delete' ? 'deleted' : 'being deleted'}`, { status: row.status });
    }
    const [removal] = await tx
      .select({ id: pipelines.id })
      .from(pipelines)
      .where(and(eq(pipelines.subject, id), eq(pipelines.kind, 'REMOVE_NODE'), inArray(pipelines.status, ['pending', 'running'])));
    if (removal) throw new ServiceError('conflict', `node ${id} is being deleted (pipeline ${removal.id})`, { pipelineId: removal.id });
    const cancelled = await ctx.engine.cancelUnfinished(tx, id, ['ADD_NODE', 'FAULT_NODE', 'RECOVER_NODE'], 'node is being removed');
    const run = await ctx.engine.queue(tx, REMOVE_NODE({ id, ip: row.ip }, await domainsOfNode(tx, id)));
    return { run, cancelled };
  });
  ctx.engine.abortLocal(cancelled);
  await ctx.engine.dispatch(run.id, run.spec);
  ctx.log.info({ nodeId: id, pipelineId: run.id, cancelled }, 'node removal started');
  return { pipeline: queuedView(run) };
}

/**
 * Rotates a node's token: the new one is returned once. The agent's current token keeps working until the agent
 * connects with the new one (which then replaces it) or OCDN_NODE_TOKEN_GRACE_S passes. Rotating again before the
 * agent took the new token replaces the waiting one.
 */
export async function rotateNodeToken(ctx: ManagerContext, ref: string): Promise<{ token: string }> {
  const id = await resolveNodeRef(ctx, ref);
  const { token, secret } = newNodeToken(id);
  const until = new Date(Date.now() + ctx.env.OCDN_NODE_TOKEN_GRACE_S * 1000);
  const rows = await ctx.db
    .update(nodes)
    .set({ nextToken: token, nextTokenHash: sha256(secret).toString('hex'), oldTokenUntil: until, updatedAt: new Date() })
    .where(and(eq(nodes.id, id), ne(nodes.status, 'delete')))
    .returning({ id: nodes.id });
  if (rows.length === 0) throw new ServiceError('not_found', `node ${id} not found`);
  ctx.log.info({ nodeId: id, oldTokenValidUntil: until.toISOString() }, 'node token rotated');
  return { token };
}

function newNodeToken(id: string): { token: string; secret: string } {
  const secret = randomBytes(32).toString('base64url');
  return { token: `${id}.${secret}`, secret };
}

export async function countNodesByStatus(ctx: Pick<ManagerContext, 'db'>): Promise<Record<string, number>> {
  const rows = await ctx.db
    .select({ status: nodes.status, n: sql<number>`count(*)::int` })
    .from(nodes)
    .groupBy(nodes.status);
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** Canonical text of an IP address; throws a 400 naming `ip` for anything else. */
export function normalizeIp(ip: string): string {
  const v = isIP(ip);
  if (v === 0) throw new ServiceError('bad_request', `invalid ip: "${ip}" is not an IPv4 or IPv6 address`, [{ field: 'ip', message: 'not an IP address' }]);
  if (ip === '0.0.0.0' || ip === '::') throw new ServiceError('bad_request', 'invalid ip: the unspecified address cannot be a node', [{ field: 'ip', message: 'unspecified address' }]);
  if (v === 4) return ip.split('.').map((o) => String(Number(o))).join('.');
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}
