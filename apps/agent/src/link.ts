import WebSocket from 'ws';
import {
  CloseCode,
  MAX_FRAME_BYTES,
  ManagerFrame,
  type AgentHelloFrame,
  type ManagerWelcomeFrame,
  type RpcRequestFrame,
  type RpcResponseFrame,
  sendBatched,
  supportsBatches,
} from '@ocdn/protocol';
import type { Logger } from './log.ts';
import { AgentRpcError } from './rpc.ts';

/**
 * Delay before reconnect attempt `attempt` (1-based): the first is immediate, then base·2^(n-2) capped at max,
 * with jitter between half and all of it so that a fleet does not reconnect in lockstep.
 */
export function reconnectDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  if (attempt <= 1) return 0;
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 2, 30));
  return step * (0.5 + random() / 2);
}

export interface LinkOptions {
  /** The manager replicas: one link at a time, to the next one in turn when a link is lost or cannot be made. */
  managerUrls: string[];
  token: string;
  /** PEM trusted for an https:// manager (default: the system store). */
  ca?: string | undefined;
  log: Logger;
  hello(): Promise<AgentHelloFrame>;
  onWelcome(welcome: ManagerWelcomeFrame): void;
  onRequest(method: string, params: unknown): Promise<unknown>;
  uptimeSeconds(): number;
  reconnectMaxMs: number;
  /** First backoff step after the immediate retry. */
  reconnectBaseMs?: number;
}

/**
 * The agent's WebSocket to the manager. One connection at a time; on loss it retries at once, then with exponential
 * backoff and jitter up to a cap. After the welcome it sends a heartbeat every interval the manager asked for.
 */
export class ManagerLink {
  private ws: WebSocket | null = null;
  private attempt = 0;
  /** Connections refused in a row (401 and the like); reset by a welcome. */
  private authRefusals = 0;
  /** Times in a row this agent was replaced by another connection of its node; reset after a long stable link. */
  private replacements = 0;
  /** The current connection ended in a refusal: the next retry waits refusalDelay() instead of the usual backoff. */
  private refused = 0;
  private welcomedAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private stopped = false;
  private outbox: RpcResponseFrame[] = [];
  /** The manager takes batch frames (protocol 1.1). */
  private batches = false;
  welcomed = false;
  /** Index in managerUrls of the replica this link uses (or tries next). */
  private current = 0;

  constructor(private readonly opts: LinkOptions) {
    if (opts.managerUrls.length === 0) throw new Error('no manager URL');
  }

  /** The replica the link holds, or tries next: also where the agent's other calls to the manager go. */
  get managerUrl(): string {
    return this.opts.managerUrls[this.current]!;
  }

  start(): void {
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.beatTimer);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2_000);
      ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      ws.close(CloseCode.goingAway, 'agent stopping');
    });
  }

  /** Sends an event frame when connected; events are best-effort, the manager repairs drift on reconnect. */
  sendEvent(name: string, data: unknown): void {
    this.send({ type: 'event', name, data });
  }

  private wsUrl(): string {
    const u = new URL('/api/v1/agent/ws', this.managerUrl);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  private connect(): void {
    if (this.stopped || this.ws) return; // never two connections
    const log = this.opts.log;
    const ws = new WebSocket(this.wsUrl(), {
      headers: { authorization: `Bearer ${this.opts.token}` },
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
    });
    this.ws = ws;
    ws.on('open', () => {
      this.opts.hello().then(
        (hello) => this.send(hello),
        (err: unknown) => {
          log.error({ err: (err as Error).message }, 'could not build the hello');
          ws.close(CloseCode.goingAway, 'agent could not build its hello');
        },
      );
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        this.authRefusals++;
        this.refused = this.authRefusals;
        if (res.statusCode === 401) {
          log.error(
            { status: 401, retryInMs: this.refusalDelay(this.refused) },
            'the manager refused this node token: set OCDN_NODE_TOKEN to the token shown when this node was registered (POST /api/v1/nodes) and restart the agent; retrying with backoff',
          );
        } else {
          log.error({ status: res.statusCode, body: body.slice(0, 300), retryInMs: this.refusalDelay(this.refused) }, 'manager refused the connection; retrying with backoff');
        }
        ws.terminate();
      });
    });
    ws.on('message', (data, isBinary) => this.onMessage(data.toString(), isBinary));
    ws.on('error', (err) => log.warn({ err: err.message }, 'manager link error'));
    ws.on('close', (code, reason) => {
      clearInterval(this.beatTimer);
      if (this.ws === ws) this.ws = null;
      if (code === CloseCode.replaced) {
        // Another connection of this node took over. Our own reconnect never races our live socket, so this is a
        // second agent with the same node token (or this one started twice): retrying at once would knock the two
        // off each other many times a second.
        if (Date.now() - this.welcomedAt > 2 * this.opts.reconnectMaxMs) this.replacements = 0; // after a long stable link
        this.replacements++;
        this.refused = this.replacements;
        log.error(
          { code, retryInMs: this.refusalDelay(this.refused) },
          'another agent connected with this node token and replaced this one: two agents share one node token (or this agent runs twice); stop one of them or register a node of its own; backing off',
        );
      } else if (this.welcomed) log.warn({ code, reason: reason.toString() }, 'disconnected from manager');
      else if (code !== 1006) log.error({ code, reason: reason.toString() }, 'manager closed the connection');
      const lostLink = this.welcomed;
      this.welcomed = false;
      // With several replicas, the next attempt goes to the next one; a link just lost is retried at once there
      // (attempt 1 has no delay), so the agent holds a link again as soon as another replica answers.
      if (this.opts.managerUrls.length > 1) {
        this.current = (this.current + 1) % this.opts.managerUrls.length;
        if (lostLink) this.attempt = 0;
        log.info({ manager: this.managerUrl }, 'trying the next manager replica');
      }
      this.scheduleReconnect();
    });
  }

  /** After the n-th refusal in a row (401, replaced): one second, doubling with each, up to the cap. */
  private refusalDelay(n: number): number {
    return Math.min(this.opts.reconnectMaxMs, 1000 * 2 ** Math.min(n - 1, 30));
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.attempt++;
    const refused = this.refused;
    this.refused = 0;
    const delay = refused ? this.refusalDelay(refused) * (0.8 + Math.random() * 0.4) : reconnectDelay(this.attempt, this.opts.reconnectBaseMs ?? 250, this.opts.reconnectMaxMs);
    this.opts.log.debug({ attempt: this.attempt, delayMs: Math.round(delay) }, 'reconnecting');
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private onMessage(text: string, isBinary: boolean): void {
    let frame: ManagerFrame;
    try {
      if (isBinary) throw new Error('binary frame');
      frame = ManagerFrame.parse(JSON.parse(text));
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message.slice(0, 300) }, 'ignoring invalid frame from manager');
      return;
    }
    if (frame.type === 'welcome') {
      this.welcomed = true;
      this.welcomedAt = Date.now();
      this.authRefusals = 0;
      this.batches = supportsBatches(frame.protocolVersion);
      this.attempt = 0;
      this.opts.onWelcome(frame);
      clearInterval(this.beatTimer);
      this.beatTimer = setInterval(
        () => this.send({ type: 'heartbeat', seq: this.seq++, uptimeSeconds: this.opts.uptimeSeconds() }),
        frame.heartbeatIntervalMs,
      );
    } else if (frame.type === 'request') {
      void this.answer(frame);
    } else if (frame.type === 'batch') {
      for (const req of frame.frames) void this.answer(req);
    } else {
      this.opts.log.warn({ code: frame.code, message: frame.message }, 'manager reported an error');
    }
  }

  private async answer(req: RpcRequestFrame): Promise<void> {
    let res: RpcResponseFrame;
    try {
      res = { type: 'response', id: req.id, ok: true, result: await this.opts.onRequest(req.method, req.params) };
    } catch (err) {
      const e = err instanceof AgentRpcError ? err : new AgentRpcError('internal', (err as Error).message ?? String(err));
      res = { type: 'response', id: req.id, ok: false, error: { code: e.code, message: e.message, details: e.details } };
    }
    this.reply(res);
  }

  /**
   * Responses ready in the same turn of the event loop leave together: in one batch frame to a manager that speaks
   * protocol 1.1, one frame each to an older one.
   */
  private reply(res: RpcResponseFrame): void {
    this.outbox.push(res);
    if (this.outbox.length > 1) return;
    setImmediate(() => {
      const ready = this.outbox.splice(0);
      const ws = this.ws;
      if (ws?.readyState !== WebSocket.OPEN) return;
      const texts = ready.map((r) => JSON.stringify(r));
      if (this.batches) sendBatched(texts, (t) => ws.send(t));
      else for (const t of texts) ws.send(t);
    });
  }

  private send(frame: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }
}
