import { and, desc, eq, gte, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { ApiRole } from '@ocdn/protocol';
import type { Caller } from '../access/tokens.ts';
import type { Database, Db } from '../db/client.ts';
import { rawStatement } from '../db/raw.ts';
import { auditLog } from '../db/schema.ts';
import { invalidField } from '../errors.ts';
import type { Logger } from '../log.ts';
import { every } from '../every.ts';

/** One audit entry as `GET /api/v1/audit` shows it. */
export interface AuditEntry {
  id: string;
  at: string;
  actor: { tokenId: string; name: string; role: ApiRole } | null;
  sourceIp: string | null;
  method: string;
  route: string;
  resourceType: string | null;
  resourceId: string | null;
  status: number;
  before: unknown;
  after: unknown;
}

export type NewAuditEntry = typeof auditLog.$inferInsert;

const AUDIT_INSERT =
  'insert into audit_log (token_id, token_name, role, source_ip, method, route, resource_type, resource_id, status, before, after) ' +
  'select $1, $2, $3, $4, $5, $6, $7, $8, $9::int, $10::jsonb, $11::jsonb';
/** The same, written only while the caller is live (see writeAuditEntry). */
const AUDIT_INSERT_IF_LIVE = `${AUDIT_INSERT} where ocdn_caller_live($12, $13)`;

/**
 * One statement, written out and run on the driver itself (db/raw.ts): it runs with every change made through the
 * API, and drizzle's builder costs more than the insert. With `caller`, the entry is written only if that caller is
 * still live (`ocdn_caller_live`, drizzle/0008 and 0009): a token revoked or expired, or a console session ended, on
 * any replica before this statement ran makes it fail with CALLER_GONE — and, sent with the COMMIT, it takes the
 * change down with it.
 */
export async function writeAuditEntry(db: Db, e: NewAuditEntry, caller?: Caller): Promise<void> {
  const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
  const params: unknown[] = [e.tokenId ?? null, e.tokenName ?? null, e.role ?? null, e.sourceIp ?? null, e.method, e.route, e.resourceType ?? null, e.resourceId ?? null, e.status, json(e.before), json(e.after)];
  if (caller) params.push(caller.tokenId, caller.sessionId ?? null);
  await rawStatement(db, caller ? AUDIT_INSERT_IF_LIVE : AUDIT_INSERT, params);
}

export interface AuditQuery {
  actor?: string | undefined;
  resourceType?: string | undefined;
  resourceId?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** The cursor is the last id of the page, opaque to callers. */
const encodeCursor = (id: number) => Buffer.from(`a${id}`).toString('base64url');
function decodeCursor(cursor: string): number {
  const m = /^a([0-9]{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!m) throw invalidField('cursor', 'not a cursor this API gave out (use nextCursor of the previous page)');
  return Number(m[1]);
}

/** Newest first; `actor` matches a token's id or name. */
export async function listAudit(db: Db, q: AuditQuery): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
  const where: SQL[] = [];
  if (q.actor) where.push(or(eq(auditLog.tokenId, q.actor), eq(auditLog.tokenName, q.actor))!);
  if (q.resourceType) where.push(eq(auditLog.resourceType, q.resourceType));
  if (q.resourceId) where.push(eq(auditLog.resourceId, q.resourceId));
  if (q.since) where.push(gte(auditLog.at, new Date(q.since)));
  if (q.until) where.push(lte(auditLog.at, new Date(q.until)));
  if (q.cursor) where.push(lt(auditLog.id, decodeCursor(q.cursor)));
  const rows = await db
    .select()
    .from(auditLog)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(auditLog.id))
    .limit(q.limit + 1);
  const page = rows.slice(0, q.limit);
  const items = page.map((r) => ({
    id: String(r.id),
    at: r.at.toISOString(),
    actor: r.tokenId ? { tokenId: r.tokenId, name: r.tokenName ?? '', role: (r.role ?? 'viewer') as ApiRole } : null,
    sourceIp: r.sourceIp,
    method: r.method,
    route: r.route,
    resourceType: r.resourceType,
    resourceId: r.resourceId,
    status: r.status,
    before: r.before ?? null,
    after: r.after ?? null,
  }));
  return { items, nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null };
}

const PRUNE_LOCK = 7_242_003;
const PRUNE_EVERY_MS = 3600_000;

/**
 * Deletes entries older than the retention, hourly, on one replica at a time (an advisory lock: whichever replica
 * takes it prunes; the others skip that hour).
 */
export class AuditPruner {
  private stopTimer = () => {};

  constructor(
    private readonly database: Database,
    private readonly retentionDays: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.prune().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'audit pruning failed; trying again next hour'));
    this.stopTimer = every(PRUNE_EVERY_MS, () => this.prune(), this.log, 'audit pruning');
  }

  stop(): void {
    this.stopTimer();
  }

  /** Returns how many entries went, or null when another replica holds the pruning lock. */
  async prune(): Promise<number | null> {
    const lock = await this.database.tryLock(PRUNE_LOCK);
    if (!lock) return null;
    try {
      const gone = await this.database.db
        .delete(auditLog)
        .where(lt(auditLog.at, sql`now() - make_interval(days => ${this.retentionDays})`))
        .returning({ id: auditLog.id });
      if (gone.length) this.log.info({ entries: gone.length, retentionDays: this.retentionDays }, 'audit entries pruned');
      return gone.length;
    } finally {
      await lock.release();
    }
  }
}
