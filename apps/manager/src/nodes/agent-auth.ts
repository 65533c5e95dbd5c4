import { and, eq, inArray, isNotNull, lte, sql } from 'drizzle-orm';
import { CloseCode, splitNodeToken } from '@ocdn/protocol';
import { matchesDigest } from '../access/digest.ts';
import type { Db } from '../db/client.ts';
import { nodes } from '../db/schema.ts';
import type { AgentHub, AuthenticatedNode } from '../hub/hub.ts';
import type { Logger } from '../log.ts';
import { every } from '../every.ts';
import { spaced } from '../spaced.ts';

const tokenColumns = { id: nodes.id, tokenHash: nodes.tokenHash, nextTokenHash: nodes.nextTokenHash, oldTokenUntil: nodes.oldTokenUntil, status: nodes.status, roles: nodes.roles };
type TokenRow = { id: string; tokenHash: string; nextTokenHash: string | null; oldTokenUntil: Date | null; status: string; roles: AuthenticatedNode['roles'] };

/**
 * Finds the live node a bearer token belongs to. The token names its node; the secret's sha256 is compared with the
 * stored one in constant time. Deleted nodes are refused. After a rotation, the new token is accepted (and replaces
 * the old one at once: the agent has it now), and the old one until its grace period ends.
 */
export async function authenticateNodeToken(db: Db, token: string): Promise<AuthenticatedNode | null> {
  const parts = splitNodeToken(token);
  if (!parts) return null;
  const [row] = await db.select(tokenColumns).from(nodes).where(eq(nodes.id, parts.nodeId));
  return judgeNodeToken(db, row, parts.secret);
}

async function judgeNodeToken(db: Db, row: TokenRow | undefined, secret: string): Promise<AuthenticatedNode | null> {
  if (!row || row.status === 'delete') return null;
  if (row.nextTokenHash && matchesDigest(secret, Buffer.from(row.nextTokenHash, 'hex'))) {
    await db
      .update(nodes)
      .set({ token: sql`${nodes.nextToken}`, tokenHash: row.nextTokenHash, nextToken: null, nextTokenHash: null, oldTokenUntil: null })
      .where(and(eq(nodes.id, row.id), eq(nodes.nextTokenHash, row.nextTokenHash)));
    return { nodeId: row.id, roles: row.roles, tokenHash: row.nextTokenHash };
  }
  if (!matchesDigest(secret, Buffer.from(row.tokenHash, 'hex'))) return null;
  if (row.nextTokenHash && row.oldTokenUntil && row.oldTokenUntil.getTime() <= Date.now()) return null; // grace over
  return { nodeId: row.id, roles: row.roles, tokenHash: row.tokenHash };
}

/** Ids per statement. */
const LOOKUP_BATCH = 1_000;

/** At most one lookup statement per this many milliseconds while agents keep connecting. */
const LOOKUP_GAP_MS = 50;

/**
 * authenticateNodeToken for the agents' WebSocket upgrades, with the node rows of the upgrades that arrive together
 * read in one statement (spaced.ts): after a manager restart thousands of agents connect within seconds, and one
 * lookup each queued them behind one another on the database.
 */
export class NodeTokenLookup {
  private waiting = new Map<string, { resolve(row: TokenRow | undefined): void; reject(err: unknown): void }[]>();
  private readonly schedule = spaced(LOOKUP_GAP_MS);

  constructor(private readonly db: Db) {}

  async authenticate(token: string): Promise<AuthenticatedNode | null> {
    const parts = splitNodeToken(token);
    if (!parts) return null;
    const row = await new Promise<TokenRow | undefined>((resolve, reject) => {
      const list = this.waiting.get(parts.nodeId);
      if (list) list.push({ resolve, reject });
      else this.waiting.set(parts.nodeId, [{ resolve, reject }]);
      this.schedule(() => void this.flush());
    });
    return judgeNodeToken(this.db, row, parts.secret);
  }

  private async flush(): Promise<void> {
    const batch = this.waiting;
    this.waiting = new Map();
    const ids = [...batch.keys()];
    for (let i = 0; i < ids.length; i += LOOKUP_BATCH) {
      const some = ids.slice(i, i + LOOKUP_BATCH);
      try {
        const rows = await this.db.select(tokenColumns).from(nodes).where(inArray(nodes.id, some));
        const byId = new Map(rows.map((r) => [r.id, r]));
        for (const id of some) for (const w of batch.get(id)!) w.resolve(byId.get(id));
      } catch (err) {
        for (const id of some) for (const w of batch.get(id)!) w.reject(err);
      }
    }
  }
}

const WATCH_MS = 5000;

/**
 * Ends what a rotated token's grace period allowed: every few seconds, each replica closes the connections of its
 * own agents whose token is no longer accepted, and retires expired old tokens (the manager then presents the new
 * token to the agent's HTTP API). Any replica may do the retiring; it is the same statement on each.
 */
export class NodeTokenWatch {
  private stopTimer = () => {};

  constructor(
    private readonly db: Db,
    private readonly hub: AgentHub,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopTimer = every(WATCH_MS, () => this.check(), this.log, 'node token check');
  }

  stop(): void {
    this.stopTimer();
  }

  async check(): Promise<void> {
    const retired = await this.db
      .update(nodes)
      .set({ token: sql`${nodes.nextToken}`, tokenHash: sql`${nodes.nextTokenHash}`, nextToken: null, nextTokenHash: null, oldTokenUntil: null })
      .where(and(isNotNull(nodes.nextTokenHash), lte(nodes.oldTokenUntil, sql`now()`)))
      .returning({ id: nodes.id });
    for (const { id } of retired) this.log.info({ nodeId: id }, 'the old node token expired unused by a new connection; only the new token is accepted now');
    const local = [...this.hub.connections()].map((c) => c.nodeId);
    if (local.length === 0) return;
    const rows = await this.db.select({ id: nodes.id, tokenHash: nodes.tokenHash, nextTokenHash: nodes.nextTokenHash }).from(nodes).where(inArray(nodes.id, local));
    const current = new Map(rows.map((r) => [r.id, r]));
    for (const nodeId of local) {
      const used = this.hub.tokenHashOf(nodeId);
      const row = current.get(nodeId);
      if (!row || used === undefined || used === row.tokenHash || used === row.nextTokenHash) continue;
      this.log.warn({ nodeId }, 'closing an agent connection made with a retired node token');
      this.hub.disconnect(nodeId, CloseCode.unauthorized, 'node token rotated: restart the agent with the new token');
    }
  }
}
