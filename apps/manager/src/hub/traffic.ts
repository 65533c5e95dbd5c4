import Bottleneck from 'bottleneck';
import { RpcMethods, type RpcMethodName, type RpcParams, type RpcResult } from '@ocdn/protocol';
import type { AgentHub } from './hub.ts';
import { RpcError } from './connection.ts';

/** What OCDN_TRAFFIC needs to reach a node. */
export interface NodeEndpoint {
  id: string;
  ip: string;
  agentPort: number;
  token: string;
}

export interface TrafficOptions {
  /** Requests in flight toward one node at once. */
  perNodeConcurrency?: number;
  defaultTimeoutMs?: number;
}

/**
 * OCDN_TRAFFIC — the one channel that carries a request to an agent. It prefers the agent's WebSocket held by this
 * replica and falls back to the agent's own HTTP API (the seed's model, and the path for a replica that does not
 * hold the socket). Every call has a timeout and waits its turn behind a per-node concurrency limit; the result is
 * validated against the protocol's schema before anyone sees it.
 */
export class Traffic {
  private readonly limiters: Bottleneck.Group;
  private readonly defaultTimeoutMs: number;

  constructor(
    private readonly hub: AgentHub,
    opts: TrafficOptions = {},
  ) {
    this.limiters = new Bottleneck.Group({ maxConcurrent: opts.perNodeConcurrency ?? 4 });
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? 10_000;
  }

  async call<M extends RpcMethodName>(
    node: NodeEndpoint,
    method: M,
    params: RpcParams<M>,
    opts: { timeoutMs?: number; via?: 'socket' | 'http' } = {},
  ): Promise<RpcResult<M>> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const raw = await this.limiters.key(node.id).schedule(() => {
      const conn = this.hub.get(node.id);
      if (opts.via !== 'http' && conn?.open) return conn.call(method, params, timeoutMs);
      if (opts.via === 'socket') throw new RpcError('not_connected', 'agent is not connected to this manager');
      return this.overHttp(node, method, params, timeoutMs);
    });
    const parsed = RpcMethods[method].result.safeParse(raw);
    if (!parsed.success) {
      throw new RpcError('invalid_response', `agent answered ${method} with an invalid body: ${parsed.error.issues[0]?.message}`);
    }
    return parsed.data as RpcResult<M>;
  }

  private async overHttp(node: NodeEndpoint, method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    const host = node.ip.includes(':') ? `[${node.ip}]` : node.ip;
    const base = `http://${host}:${node.agentPort}`;
    // node.heartbeat is the agent's GET /heartbeat (OCDN_NODE_HEART); other methods are POST /rpc/<method>.
    const init: RequestInit =
      method === 'node.heartbeat'
        ? { method: 'GET' }
        : { method: 'POST', body: JSON.stringify(params ?? {}), headers: { 'content-type': 'application/json' } };
    const url = method === 'node.heartbeat' ? `${base}/heartbeat` : `${base}/rpc/${encodeURIComponent(method)}`;
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${node.token}` },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError') throw new RpcError('timeout', `${method} over HTTP got no answer within ${timeoutMs} ms`);
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new RpcError('unreachable', `agent HTTP API at ${base} unreachable: ${cause?.code ?? cause?.message ?? e.message}`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      throw new RpcError('invalid_response', `agent answered ${method} with HTTP ${res.status} and a body that is not JSON`);
    }
    if (!res.ok) {
      const err = (body as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
      throw new RpcError(err?.code ?? `http_${res.status}`, err?.message ?? `agent answered HTTP ${res.status}`, err?.details);
    }
    return body;
  }
}
