import { sql } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';

/**
 * Writes when each agent was last heard, and its version, in one statement every few seconds, never one write per
 * beat or per connection: thousands of agents beat every second and reconnect together after a manager restart.
 * Agents that disconnected since the last flush are written with the time they were last heard.
 */
export class HeartbeatFlusher {
  private timer: NodeJS.Timeout | undefined;
  private lastFlush = 0;
  private readonly gone = new Map<string, { at: Date; agentVersion: string }>();
  private readonly onDisconnect = (nodeId: string, _reason: string, lastSeenAt: Date) => {
    const version = this.versions.get(nodeId);
    this.versions.delete(nodeId);
    if (version) this.gone.set(nodeId, { at: lastSeenAt, agentVersion: version });
  };
  private readonly versions = new Map<string, string>();
  private readonly onConnect = (conn: { nodeId: string; hello: { agentVersion: string } }) => {
    this.versions.set(conn.nodeId, conn.hello.agentVersion);
  };

  constructor(
    private readonly ctx: ManagerContext,
    private readonly periodMs = 5_000,
  ) {}

  start(): void {
    this.ctx.hub.on('connected', this.onConnect);
    this.ctx.hub.on('disconnected', this.onDisconnect);
    this.timer = setInterval(() => void this.flush().catch((err: unknown) => this.ctx.log.warn({ err }, 'heartbeat flush failed')), this.periodMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.ctx.hub.off('connected', this.onConnect);
    this.ctx.hub.off('disconnected', this.onDisconnect);
    await this.flush().catch(() => {});
  }

  async flush(): Promise<void> {
    const since = this.lastFlush;
    this.lastFlush = Date.now();
    const beats: { id: string; at: Date; version: string }[] = [];
    for (const c of this.ctx.hub.connections()) {
      if (c.lastSeenAt > since) beats.push({ id: c.nodeId, at: new Date(c.lastSeenAt), version: c.hello.agentVersion });
    }
    for (const [id, g] of this.gone) beats.push({ id, at: g.at, version: g.agentVersion });
    this.gone.clear();
    // Small statements: on the embedded database each one runs on this thread and holds everything else up.
    for (let i = 0; i < beats.length; i += 250) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      const values = sql.join(
        beats.slice(i, i + 250).map((b) => sql`(${b.id}, ${b.at.toISOString()}::timestamptz, ${b.version})`),
        sql`, `,
      );
      await this.ctx.db.execute(
        sql`update nodes set last_heartbeat_at = v.at, agent_version = v.version
            from (values ${values}) as v(id, at, version) where nodes.id = v.id`,
      );
    }
  }
}
