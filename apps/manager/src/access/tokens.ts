import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, asc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { ApiRole } from '@ocdn/protocol';
import { inUnitOfWork } from '../db/ambient.ts';
import type { Db } from '../db/client.ts';
import { apiTokens, sessions, settings } from '../db/schema.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { ServiceError, invalidField } from '../errors.ts';
import { newId } from '../ids.ts';
import { RecentCallers } from './recent.ts';
import type { Logger } from '../log.ts';

/** Who is calling: the token behind a bearer header or a session cookie. */
export interface Principal {
  tokenId: string;
  name: string;
  role: ApiRole;
  expiresAt: Date | null;
  via: 'bearer' | 'session';
}

/** A token as the API shows it: never its secret. */
export interface TokenView {
  id: string;
  name: string;
  role: ApiRole;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

const KEY_SETTING = 'api_token_hmac_key';
/** Where a manager before roles kept the bootstrap admin token (sha256 of the whole token). */
const LEGACY_ADMIN_SETTING = 'admin_token_sha256';
export const BOOTSTRAP = 'bootstrap';
/** lastUsedAt is written at most this often per token and replica. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** `ocdn_<token id>.<secret>`: the id finds the row, the secret is compared by keyed hash in constant time. */
const FORMAT = /^ocdn_(tok_[0-9a-z]{16})\.([A-Za-z0-9_-]{43})$/;

type Row = typeof apiTokens.$inferSelect;
const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function viewOf(row: Row): TokenView {
  return { id: row.id, name: row.name, role: row.role, createdAt: row.createdAt.toISOString(), expiresAt: iso(row.expiresAt), lastUsedAt: iso(row.lastUsedAt) };
}

const live = () => and(isNull(apiTokens.revokedAt), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`)));

/** A caller of a change whose liveness its transaction checks: its token, and its console session if it came by one. */
export interface Caller {
  tokenId: string;
  sessionId: string | undefined;
}

/** SQLSTATE of the refusal `ocdn_caller_live` raises (drizzle/0008_caller_live.sql, 0009). */
export const CALLER_GONE = 'OC401';

/**
 * Fails with CALLER_GONE unless the token (and the console session, if any) is live. A change's own check is part of
 * its audit entry's insert (audit/log.ts); this one asks after a change that failed of itself.
 */
export async function callerLive(db: Db, caller: Caller): Promise<void> {
  await db.execute(sql`select ocdn_caller_live(${caller.tokenId}, ${caller.sessionId ?? null})`);
}

/**
 * API tokens: created with a role, shown once, kept as an HMAC-SHA256 of the secret under a key of this control
 * plane (a copy of the table alone does not let anyone test guesses offline), looked up by id and compared in
 * constant time. Every request reads the token's row, so a revocation made on any replica is seen by the next request
 * on every replica.
 */
export class ApiTokens {
  private readonly touched = new Map<string, number>();
  /** Callers verified lately (see RecentCallers). */
  readonly recent = new RecentCallers();
  /** The two lookups every request makes, prepared once (no query building per request). */
  private readonly byId;
  private readonly bootstrapRow;

  private constructor(
    private readonly db: Db,
    private readonly key: Buffer,
    private readonly log: Logger,
    /** This process is the database's only writer (the embedded database): `recent` is exact. */
    readonly soleWriter: boolean,
  ) {
    this.byId = db.select().from(apiTokens).where(and(eq(apiTokens.id, sql.placeholder('id')), live())).prepare('ocdn_api_token_by_id');
    this.bootstrapRow = db.select().from(apiTokens).where(and(eq(apiTokens.name, BOOTSTRAP), live())).prepare('ocdn_api_token_bootstrap');
  }

  static async open(db: Db, log: Logger, soleWriter: boolean): Promise<ApiTokens> {
    const fresh = randomBytes(32).toString('hex');
    await db.insert(settings).values({ key: KEY_SETTING, value: fresh }).onConflictDoNothing();
    const [row] = await db.select().from(settings).where(eq(settings.key, KEY_SETTING));
    return new ApiTokens(db, Buffer.from(row!.value, 'hex'), log, soleWriter);
  }

  hash(secret: string): string {
    return `hmac-sha256:${createHmac('sha256', this.key).update(secret, 'utf8').digest('hex')}`;
  }

  /** Compares a presented secret with a stored hash in constant time (for equal-length digests). */
  matches(presented: string, stored: string): boolean {
    const [kind, hex] = stored.split(':', 2);
    const expected = Buffer.from(hex ?? '', 'hex');
    const candidate =
      kind === 'sha256' ? createHash('sha256').update(presented, 'utf8').digest() : createHmac('sha256', this.key).update(presented, 'utf8').digest();
    return expected.length === candidate.length && timingSafeEqual(expected, candidate);
  }

  /** The live token a bearer secret stands for, or null (unknown, revoked, expired). */
  async authenticate(presented: string): Promise<Principal | null> {
    const m = FORMAT.exec(presented);
    // A token in our format is found by its id; any other string can only be a bootstrap token set by the operator.
    // The prepared statements belong to the database itself: inside a unit of work (a sign-in) the unit's own
    // transaction must be used (on PGlite, the one connection is the unit's until it ends).
    const [row] = inUnitOfWork()
      ? await this.db.select().from(apiTokens).where(and(m ? eq(apiTokens.id, m[1]!) : eq(apiTokens.name, BOOTSTRAP), live()))
      : m
        ? await this.byId.execute({ id: m[1]! })
        : await this.bootstrapRow.execute();
    if (!row || !this.matches(m ? m[2]! : presented, row.secretHash)) return null;
    this.touch(row);
    return { tokenId: row.id, name: row.name, role: row.role, expiresAt: row.expiresAt, via: 'bearer' };
  }

  /** Records use without a write per request: at most one write per token and replica a minute. */
  touch(row: Pick<Row, 'id' | 'lastUsedAt'>): void {
    const now = Date.now();
    const seen = Math.max(row.lastUsedAt?.getTime() ?? 0, this.touched.get(row.id) ?? 0);
    if (now - seen < LAST_USED_RESOLUTION_MS) return;
    this.touched.set(row.id, now);
    this.db
      .update(apiTokens)
      .set({ lastUsedAt: new Date(now) })
      .where(eq(apiTokens.id, row.id))
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message, tokenId: row.id }, 'could not record a token use'));
  }

  async create(input: { name: string; role: ApiRole; expiresAt?: string | undefined }, by: Principal | null): Promise<{ token: TokenView; secret: string }> {
    let expiresAt: Date | null = null;
    if (input.expiresAt !== undefined) {
      expiresAt = new Date(input.expiresAt);
      if (expiresAt.getTime() <= Date.now()) throw invalidField('expiresAt', 'must be in the future');
    }
    const id = newId('tok');
    const secret = randomBytes(32).toString('base64url');
    const row = await this.insert({ id, name: input.name, role: input.role, secretHash: this.hash(secret), expiresAt, createdBy: by?.tokenId ?? null });
    return { token: viewOf(row), secret: `ocdn_${id}.${secret}` };
  }

  private async insert(values: typeof apiTokens.$inferInsert): Promise<Row> {
    try {
      return await this.db.transaction(async (tx) => {
        // An expired token's name is free again: it is retired here so that the unique index allows the new one.
        await tx.update(apiTokens).set({ revokedAt: new Date() }).where(and(eq(apiTokens.name, values.name), isNull(apiTokens.revokedAt), sql`${apiTokens.expiresAt} <= now()`));
        const [row] = await tx.insert(apiTokens).values(values).returning();
        return row!;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ServiceError('conflict', `a live token named ${values.name} exists already`, { field: 'name' });
      throw err;
    }
  }

  async list(): Promise<TokenView[]> {
    const rows = await this.db.select().from(apiTokens).where(isNull(apiTokens.revokedAt)).orderBy(asc(apiTokens.createdAt), asc(apiTokens.id));
    return rows.map(viewOf);
  }

  async get(id: string): Promise<TokenView> {
    const [row] = await this.db.select().from(apiTokens).where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)));
    if (!row) throw new ServiceError('not_found', `token ${id} not found`);
    return viewOf(row);
  }

  /**
   * Revokes a token and ends its console sessions. The last live admin token is kept (409): nobody could manage
   * tokens or nodes any more. A token may revoke itself; the request that does it is its last.
   */
  async revoke(id: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      // Locks every live admin token, so that two replicas revoking the last two admins at once cannot both succeed.
      const admins = await tx.select({ id: apiTokens.id }).from(apiTokens).where(and(eq(apiTokens.role, 'admin'), live())).for('update');
      const [row] = await tx.select().from(apiTokens).where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt))).for('update');
      if (!row) throw new ServiceError('not_found', `token ${id} not found`);
      if (row.role === 'admin' && admins.length === 1 && admins[0]!.id === id) {
        throw new ServiceError('conflict', 'this is the last live admin token: create another admin token first, or nobody could manage tokens and nodes', { tokenId: id });
      }
      await tx.update(apiTokens).set({ revokedAt: new Date() }).where(eq(apiTokens.id, id));
      await tx.delete(sessions).where(eq(sessions.tokenId, id));
    });
    this.recent.forget({ tokenId: id });
  }

  /**
   * The bootstrap admin token. OCDN_ADMIN_TOKEN, when set, is stored as the live `bootstrap` token at every start
   * (it is how an operator who lost every admin token gets back in). Otherwise, when no live admin token exists,
   * one is generated; commit() stores it once every server is up and returns it for printing.
   */
  async bootstrap(configured: string | undefined): Promise<{ commit(): Promise<string | null> }> {
    const none = { commit: async () => null };
    if (configured) {
      await this.db.transaction(async (tx) => {
        await tx.update(apiTokens).set({ revokedAt: new Date() }).where(and(eq(apiTokens.name, BOOTSTRAP), isNull(apiTokens.revokedAt)));
        await tx.insert(apiTokens).values({ id: newId('tok'), name: BOOTSTRAP, role: 'admin', secretHash: this.hash(configured) });
      });
      return none;
    }
    if (await this.hasLiveAdmin()) return none;
    const [legacy] = await this.db.select().from(settings).where(eq(settings.key, LEGACY_ADMIN_SETTING));
    if (legacy) {
      // The token an earlier version generated keeps working, now as the bootstrap admin token.
      await this.insert({ id: newId('tok'), name: BOOTSTRAP, role: 'admin', secretHash: `sha256:${legacy.value}` });
      return none;
    }
    const id = newId('tok');
    const secret = randomBytes(32).toString('base64url');
    return {
      commit: async () => {
        return this.db.transaction(async (tx) => {
          // Replicas starting together: the first stores its token, the others find a live admin and print nothing.
          await tx.execute(sql`select pg_advisory_xact_lock(7242002)`);
          const [admin] = await tx.select({ id: apiTokens.id }).from(apiTokens).where(and(eq(apiTokens.role, 'admin'), live()));
          if (admin) return null;
          await tx.update(apiTokens).set({ revokedAt: new Date() }).where(and(eq(apiTokens.name, BOOTSTRAP), isNull(apiTokens.revokedAt)));
          await tx.insert(apiTokens).values({ id, name: BOOTSTRAP, role: 'admin', secretHash: this.hash(secret) });
          return `ocdn_${id}.${secret}`;
        });
      },
    };
  }

  private async hasLiveAdmin(): Promise<boolean> {
    const [row] = await this.db.select({ id: apiTokens.id }).from(apiTokens).where(and(eq(apiTokens.role, 'admin'), live())).limit(1);
    return Boolean(row);
  }
}
