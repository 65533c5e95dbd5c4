import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import {
  AgentFrameByType,
  type AgentFrame,
  AgentHelloFrame,
  CloseCode,
  bearerToken,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  checkProtocolCompatibility,
  type ManagerWelcomeFrame,
  type NodeRole,
} from '@ocdn/protocol';
import type { Logger } from '../log.ts';
import { AgentConnection } from './connection.ts';
import { LoopLag, afterPendingIo } from './lag.ts';

export interface AuthenticatedNode {
  nodeId: string;
  roles: NodeRole[];
  /** Which of the node's tokens the agent used (after a rotation, the old one stops being accepted). */
  tokenHash: string;
}

export interface AgentHubOptions {
  log: Logger;
  managerVersion: string;
  heartbeatIntervalMs: number;
  /** Finds the live node a bearer token belongs to (constant-time compare inside), or null. */
  authenticate(token: string): Promise<AuthenticatedNode | null>;
  /** How long an agent has to send its hello after the upgrade. */
  helloTimeoutMs?: number;
}

export interface AgentHubEvents {
  connected: [conn: AgentConnection];
  disconnected: [nodeId: string, reason: string, lastSeenAt: Date];
  event: [nodeId: string, name: string, data: unknown];
  /** A second agent with the same node token replaced a live connection of this node. */
  duplicate: [nodeId: string];
}

/** How long a node is shown with a duplicate agent after the last sign of one. */
export const DUPLICATE_SHOWN_MS = 10 * 60_000;

/**
 * The manager's end of the agents' WebSockets: authenticates the upgrade by node token, negotiates the protocol with
 * the hello, keeps one connection per node (a newer one replaces the older), and drops connections that go silent.
 */
export class AgentHub extends EventEmitter<AgentHubEvents> {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  private readonly conns = new Map<string, AgentConnection>();
  /** What was last known of agents that disconnected from this replica (shown until the database has it). */
  private readonly departed = new Map<string, { lastSeenAt: number; agentVersion: string }>();
  /** nodeId → when a second agent with its token last replaced a live connection. */
  private readonly duplicates = new Map<string, number>();
  /** nodeId → hash of the token its live connection authenticated with. */
  private readonly tokenHashes = new Map<string, string>();
  private reaper: NodeJS.Timeout | undefined;
  private lastReap = Date.now();
  private readonly lag = new LoopLag();

  constructor(private readonly opts: AgentHubOptions) {
    super();
  }

  start(): void {
    const period = Math.max(250, this.opts.heartbeatIntervalMs);
    this.reaper = setInterval(() => this.reapSilent(), period);
    this.reaper.unref();
  }

  async stop(): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    this.lag.stop();
    for (const conn of this.conns.values()) conn.close(CloseCode.goingAway, 'manager stopping');
    this.conns.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  get size(): number {
    return this.conns.size;
  }

  get(nodeId: string): AgentConnection | undefined {
    return this.conns.get(nodeId);
  }

  /** When the node's agent was last heard here, and its version: live for a connected agent, else as it left. */
  lastKnown(nodeId: string): { lastSeenAt: number; agentVersion: string } | undefined {
    const conn = this.conns.get(nodeId);
    if (conn) return { lastSeenAt: conn.lastSeenAt, agentVersion: conn.hello.agentVersion };
    return this.departed.get(nodeId);
  }

  /** When a second agent using this node's token was last seen here (within DUPLICATE_SHOWN_MS), else null. */
  duplicateSeenAt(nodeId: string): number | null {
    const at = this.duplicates.get(nodeId);
    if (at === undefined) return null;
    if (Date.now() - at <= DUPLICATE_SHOWN_MS) return at;
    this.duplicates.delete(nodeId);
    return null;
  }

  /** The hash of the token the node's live connection here authenticated with. */
  tokenHashOf(nodeId: string): string | undefined {
    return this.conns.has(nodeId) ? this.tokenHashes.get(nodeId) : undefined;
  }

  connections(): IterableIterator<AgentConnection> {
    return this.conns.values();
  }

  /** Closes the node's connection, e.g. when the node is deleted. */
  disconnect(nodeId: string, code: number, reason: string): void {
    this.conns.get(nodeId)?.close(code, reason);
  }

  /** Handles an HTTP upgrade on the agent WebSocket path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const token = bearerToken(req.headers.authorization);
    const refuse = (status: number, code: string, message: string) => {
      const body = JSON.stringify({ error: { code, message } });
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Bad Request'}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    if (!token) return refuse(401, 'unauthorized', 'missing bearer token');
    this.opts
      .authenticate(token)
      .then((node) => {
        if (!node) return refuse(401, 'unauthorized', 'unknown or invalid node token');
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, node));
      })
      .catch((err: unknown) => {
        this.opts.log.error({ err }, 'agent authentication failed');
        socket.destroy();
      });
  }

  private accept(ws: WebSocket, node: AuthenticatedNode): void {
    const log = this.opts.log.child({ nodeId: node.nodeId });
    const timer = setTimeout(() => ws.close(CloseCode.helloTimeout, 'no hello received in time'), this.opts.helloTimeoutMs ?? 5000);
    ws.on('error', (err) => log.warn({ err: err.message }, 'agent socket error'));
    ws.once('close', () => clearTimeout(timer));
    ws.once('message', (data, isBinary) => {
      clearTimeout(timer);
      const hello = parseFrame(data, isBinary, AgentHelloFrame);
      if (!hello.ok) {
        log.warn({ reason: hello.reason }, 'agent refused: bad hello');
        return ws.close(CloseCode.invalidFrame, truncateReason(`invalid hello: ${hello.reason}`));
      }
      const compat = checkProtocolCompatibility(hello.value.protocolVersion);
      if (!compat.ok) {
        log.warn({ remote: hello.value.protocolVersion }, 'agent refused: incompatible protocol');
        return ws.close(CloseCode.incompatibleProtocol, truncateReason(compat.reason));
      }
      this.register(ws, node, hello.value, log);
    });
  }

  private register(ws: WebSocket, node: AuthenticatedNode, hello: AgentHelloFrame, log: Logger): void {
    const previous = this.conns.get(node.nodeId);
    const conn = new AgentConnection(node.nodeId, ws, hello, node.roles);
    this.conns.set(node.nodeId, conn);
    this.tokenHashes.set(node.nodeId, node.tokenHash);
    this.departed.delete(node.nodeId);
    if (previous) {
      // An agent's own reconnect follows the end of its old socket (or that socket went silent): a previous
      // connection still beating means a second agent holds the same node token.
      if (previous.open && previous.lastSeenAt >= Date.now() - 2 * this.opts.heartbeatIntervalMs) {
        this.duplicates.set(node.nodeId, Date.now());
        log.error({ agentVersion: hello.agentVersion }, 'two agents are using the node token of this node: the newer connection replaced a live one');
        this.emit('duplicate', node.nodeId);
      }
      previous.close(CloseCode.replaced, 'replaced by a newer connection of the same node token: is a second agent using it?');
    }

    ws.on('message', (data, isBinary) => {
      const frame = parseFrame(data, isBinary, agentFrameSchema);
      if (!frame.ok) {
        log.warn({ reason: frame.reason }, 'invalid frame from agent');
        conn.send({ type: 'error', code: 'invalid_frame', message: frame.reason });
        return conn.close(CloseCode.invalidFrame, truncateReason(`invalid frame: ${frame.reason}`));
      }
      conn.lastSeenAt = Date.now();
      const f = frame.value;
      if (f.type === 'response') conn.settle(f);
      else if (f.type === 'batch') for (const r of f.frames) conn.settle(r);
      else if (f.type === 'event') this.emit('event', node.nodeId, f.name, f.data);
      else if (f.type === 'error') log.warn({ code: f.code, message: f.message }, 'agent reported an error');
    });
    ws.once('close', (code, reasonBuf) => {
      const reason = `${code} ${reasonBuf.toString()}`.trim();
      conn.failPending(`connection closed (${reason})`);
      if (this.conns.get(node.nodeId) === conn) {
        this.conns.delete(node.nodeId);
        this.tokenHashes.delete(node.nodeId);
        this.departed.set(node.nodeId, { lastSeenAt: conn.lastSeenAt, agentVersion: hello.agentVersion });
        log.info({ code, reason: reasonBuf.toString() }, 'agent disconnected');
        this.emit('disconnected', node.nodeId, reason, new Date(conn.lastSeenAt));
      }
    });

    const welcome: ManagerWelcomeFrame = {
      type: 'welcome',
      nodeId: node.nodeId,
      protocolVersion: PROTOCOL_VERSION,
      managerVersion: this.opts.managerVersion,
      roles: node.roles,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
    };
    conn.send(welcome);
    log.info({ agentVersion: hello.agentVersion, protocolVersion: hello.protocolVersion }, 'agent connected');
    this.emit('connected', conn);
  }

  /** Agents that vanished without closing (power loss, cut cable) stop sending; terminate them. */
  private reapSilent(): void {
    const now = Date.now();
    const period = Math.max(250, this.opts.heartbeatIntervalMs);
    const lagMs = this.lag.takeMaxMs();
    const stalled = now - this.lastReap > period * 1.5 + 250 || lagMs > period;
    this.lastReap = now;
    // After this process itself stalled (a long synchronous stretch), heartbeats wait unread in the sockets:
    // silence then says nothing about the agents. Judge again next round.
    if (stalled) return;
    const limit = now - 3 * this.opts.heartbeatIntervalMs - 1000;
    const silent: AgentConnection[] = [];
    for (const conn of this.conns.values()) if (conn.lastSeenAt < limit) silent.push(conn);
    if (silent.length === 0) return;
    afterPendingIo(() => {
      for (const conn of silent) {
        if (conn.lastSeenAt >= limit || this.conns.get(conn.nodeId) !== conn) continue; // a frame was waiting unread
        this.opts.log.warn({ nodeId: conn.nodeId }, 'agent silent for 3 heartbeat intervals; dropping its socket');
        conn.terminate();
      }
    });
  }
}

/** Picks the schema by the frame's type, so that errors name the field of the frame that was meant. */
const agentFrameSchema = {
  safeParse(v: unknown) {
    const type = (v as { type?: unknown } | null)?.type;
    const schema = typeof type === 'string' ? AgentFrameByType[type as keyof typeof AgentFrameByType] : undefined;
    if (!schema) {
      return { success: false as const, error: { issues: [{ path: ['type'], message: `unknown frame type ${JSON.stringify(type)}` }] } };
    }
    return schema.safeParse(v) as { success: true; data: AgentFrame } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
};

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

function parseFrame<T>(data: RawData, isBinary: boolean, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }): Parsed<T> {
  if (isBinary) return { ok: false, reason: 'binary frames are not accepted' };
  let json: unknown;
  try {
    json = JSON.parse(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString());
  } catch {
    return { ok: false, reason: 'frame is not valid JSON' };
  }
  const r = schema.safeParse(json);
  if (r.success) return { ok: true, value: r.data };
  const first = r.error.issues[0];
  const where = first && first.path.length ? first.path.map(String).join('.') : 'frame';
  return { ok: false, reason: `${where}: ${first?.message ?? 'invalid'}` };
}

/** WebSocket close reasons are limited to 123 bytes. */
function truncateReason(s: string): string {
  return Buffer.byteLength(s) <= 123 ? s : Buffer.from(s).subarray(0, 120).toString('utf8') + '...';
}
