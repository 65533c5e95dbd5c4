import { Agent, fetch, type Response } from 'undici';
import { RpcMethods, type RpcMethodName, type RpcParams, type RpcResult } from '@ocdn/protocol';
import type { AgentHub } from './hub.ts';
import { RpcError } from './connection.ts';
import { KeyedGate } from './gate.ts';

/** What OCDN_TRAFFIC needs to reach a node. */
export interface NodeEndpoint {
  id: string;
  ip: string;
  agentPort: number;
  token: string;
  /** The agent serves TLS: reached over https only, its certificate checked against OCDN_AGENT_CA. */
  tls: boolean;
}

export interface TrafficOptions {
  /** PEM trusted for agents' TLS certificates (OCDN_AGENT_CA); without it, the system store. */
  agentCa?: string | undefined;
  /** Turns in flight toward one node at once (each carries up to 64 requests queued together). */
  perNodeConcurrency?: number;
  /** The same for requests the agent holds until a coalesced action (a reload). */
  perNodeCoalescedConcurrency?: number;
  defaultTimeoutMs?: number;
}

interface Queued {
  method: string;
  params: unknown;
  timeoutMs: number;
  via: 'socket' | 'http' | undefined;
  resolve(raw: unknown): void;
  reject(err: unknown): void;
}

/**
 * Methods the agent holds until a coalesced action (a reload batch) is done. They queue in a lane of their own: in
 * the common one, a few of them would hold every slot and starve the config syncs that should join that batch.
 */
const HELD_BY_AGENT: ReadonlySet<RpcMethodName> = new Set<RpcMethodName>(['cdn.reload']);

/** Requests one turn of a node's limiter carries at most. */
const REQUESTS_PER_TURN = 64;

/**
 * OCDN_TRAFFIC — the one channel that carries a request to an agent. It prefers the agent's WebSocket held by this
 * replica and falls back to the agent's own HTTP API (the seed's model, and the path for a replica that does not
 * hold the socket). Every call has a timeout and waits its turn behind a per-node concurrency limit (KeyedGate);
 * the result is validated against the protocol's schema before anyone sees it.
 *
 * Requests queued for a node while it is busy share a turn: one turn of the limiter sends up to 64 of them (in one
 * batch frame to an agent that speaks protocol 1.1). A lone request is a turn of its own, as before; a rollout's
 * thousands per node cost a few dozen turns.
 */
export class OCDN_TRAFFIC {
  private readonly limiters: KeyedGate;
  /** Keep-alive connections to the agents' HTTP APIs, trusting OCDN_AGENT_CA for those that serve TLS. */
  private readonly dispatcher: Agent;
  private readonly coalescedLimiters: KeyedGate;
  private readonly defaultTimeoutMs: number;
  private readonly queues = new Map<string, Queued[]>();

  constructor(
    private readonly hub: AgentHub,
    opts: TrafficOptions = {},
  ) {
    this.dispatcher = new Agent({ connect: opts.agentCa ? { ca: opts.agentCa } : {}, keepAliveTimeout: 30_000 });
    this.limiters = new KeyedGate(opts.perNodeConcurrency ?? 4);
    this.coalescedLimiters = new KeyedGate(opts.perNodeCoalescedConcurrency ?? 16);
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? 10_000;
  }

  async call<M extends RpcMethodName>(
    node: NodeEndpoint,
    method: M,
    params: RpcParams<M>,
    opts: { timeoutMs?: number; via?: 'socket' | 'http' } = {},
  ): Promise<RpcResult<M>> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const lane = HELD_BY_AGENT.has(method) ? 'coalesced' : 'default';
    const raw = await new Promise<unknown>((resolve, reject) => {
      const key = `${lane}\0${node.id}`;
      let queue = this.queues.get(key);
      if (!queue) this.queues.set(key, (queue = []));
      queue.push({ method, params, timeoutMs, via: opts.via, resolve, reject });
      if (queue.length === 1) this.scheduleTurn(node, lane, key);
    });
    const parsed = RpcMethods[method].result.safeParse(raw);
    if (!parsed.success) {
      throw new RpcError('invalid_response', `agent answered ${method} with an invalid body: ${parsed.error.issues[0]?.message}`);
    }
    return parsed.data as RpcResult<M>;
  }

  /** One turn of the node's limiter: sends what is queued (up to a turn's worth) and waits for all of it. */
  private scheduleTurn(node: NodeEndpoint, lane: 'default' | 'coalesced', key: string): void {
    (lane === 'coalesced' ? this.coalescedLimiters : this.limiters)
      .run(node.id, async () => {
        const queue = this.queues.get(key) ?? [];
        const turn = queue.splice(0, REQUESTS_PER_TURN);
        if (queue.length > 0) this.scheduleTurn(node, lane, key);
        else this.queues.delete(key);
        await Promise.all(
          turn.map(async (q) => {
            try {
              q.resolve(await this.send(node, q));
            } catch (err) {
              q.reject(err);
            }
          }),
        );
      })
      .catch((err: unknown) => {
        // the turn itself failed (send() answers every request, so it does not): nobody may wait forever
        for (const q of this.queues.get(key)?.splice(0) ?? []) q.reject(err);
      });
  }

  /** Closes the keep-alive connections to the agents' HTTP APIs. */
  async close(): Promise<void> {
    await this.dispatcher.destroy();
  }

  private send(node: NodeEndpoint, q: Queued): Promise<unknown> {
    const conn = this.hub.get(node.id);
    if (q.via !== 'http' && conn?.open) return conn.call(q.method, q.params, q.timeoutMs);
    if (q.via === 'socket') return Promise.reject(new RpcError('not_connected', 'agent is not connected to this manager'));
    return this.overHttp(node, q.method, q.params, q.timeoutMs);
  }

  private async overHttp(node: NodeEndpoint, method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    const host = node.ip.includes(':') ? `[${node.ip}]` : node.ip;
    // A node registered with TLS is reached over https only: a failed handshake is an error, never a retry in clear.
    const base = `${node.tls ? 'https' : 'http'}://${host}:${node.agentPort}`;
    // node.heartbeat is the agent's GET /heartbeat (OCDN_NODE_HEART); other methods are POST /rpc/<method>.
    const init: { method: string; body?: string; headers?: Record<string, string> } =
      method === 'node.heartbeat'
        ? { method: 'GET' }
        : { method: 'POST', body: JSON.stringify(params ?? {}), headers: { 'content-type': 'application/json' } };
    const url = method === 'node.heartbeat' ? `${base}/heartbeat` : `${base}/rpc/${encodeURIComponent(method)}`;
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        headers: { ...init.headers, authorization: `Bearer ${node.token}` },
        signal: AbortSignal.timeout(timeoutMs),
        dispatcher: this.dispatcher,
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
