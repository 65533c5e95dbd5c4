import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { sendBatched, supportsBatches, type AgentHelloFrame, type NodeRole, type RpcRequestFrame, type RpcResponseFrame } from '@ocdn/protocol';

export class RpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** One agent's live socket: what it said in its hello, when it was last heard, and its outstanding RPCs. */
export class AgentConnection {
  lastSeenAt = Date.now();
  readonly connectedAt = new Date();
  private readonly pending = new Map<string, Pending>();
  private outbox: { id: string; text: string }[] = [];
  /** The agent takes batch frames (protocol 1.1). */
  private readonly batches: boolean;

  constructor(
    readonly nodeId: string,
    private readonly ws: WebSocket,
    readonly hello: AgentHelloFrame,
    /** The node's roles as registered when it connected (the hello says what the agent itself knows yet). */
    readonly roles: readonly NodeRole[] = [],
  ) {
    this.batches = supportsBatches(hello.protocolVersion);
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  send(frame: object): void {
    if (this.open) this.ws.send(JSON.stringify(frame));
  }

  /**
   * Calls `method` on the agent and resolves with its result, or rejects with an RpcError. Requests made in the same
   * turn of the event loop leave together, in batch frames when the agent speaks protocol 1.1.
   */
  call(method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    if (!this.open) return Promise.reject(new RpcError('not_connected', 'agent socket is not open'));
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError('timeout', `${method} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      const frame: RpcRequestFrame = { type: 'request', id, method, params, timeoutMs };
      this.outbox.push({ id, text: JSON.stringify(frame) });
      if (this.outbox.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const ready = this.outbox.splice(0);
    if (!this.open) {
      for (const r of ready) this.fail(r.id, new RpcError('not_connected', 'agent socket closed before the request was sent'));
      return;
    }
    const texts = ready.map((r) => r.text);
    const send = (text: string) => this.ws.send(text);
    if (this.batches) sendBatched(texts, send);
    else texts.forEach(send);
  }

  private fail(id: string, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.reject(err);
  }

  settle(frame: RpcResponseFrame): void {
    const p = this.pending.get(frame.id);
    if (!p) return; // late answer after a timeout
    this.pending.delete(frame.id);
    clearTimeout(p.timer);
    if (frame.ok) p.resolve(frame.result);
    else p.reject(new RpcError(frame.error.code, frame.error.message, frame.error.details));
  }

  failPending(reason: string): void {
    for (const id of [...this.pending.keys()]) this.fail(id, new RpcError('not_connected', reason));
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }
}
