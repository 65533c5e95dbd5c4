import { randomBytes } from 'node:crypto';
import { and, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { apiTokens, sessions } from '../db/schema.ts';
import { ServiceError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { ApiTokens, Principal } from './tokens.ts';

/** How long a console session lasts at most (it never outlives its token). */
export const SESSION_TTL_MS = 12 * 3600_000;
const FORMAT = /^(ses_[0-9a-z]{16})\.([A-Za-z0-9_-]{43})$/;

/**
 * Console sessions: signing in with an API token gives a cookie that stands for that token — its role, and an
 * expiry no later than the token's. The token's row is read on every request, so revoking the token ends the
 * session at once on every replica.
 */
export class Sessions {
  constructor(
    private readonly db: Db,
    private readonly tokens: ApiTokens,
  ) {}

  /** Signs in: checks the token and opens a session. The cookie value is returned once. */
  async open(presented: string): Promise<{ principal: Principal; cookie: string; expiresAt: Date }> {
    const principal = await this.tokens.authenticate(presented);
    if (!principal) throw new ServiceError('unauthorized', 'unknown, revoked or expired token');
    const cap = Date.now() + SESSION_TTL_MS;
    const expiresAt = new Date(Math.min(cap, principal.expiresAt?.getTime() ?? cap));
    const id = newId('ses');
    const secret = randomBytes(32).toString('base64url');
    await this.db.insert(sessions).values({ id, tokenId: principal.tokenId, secretHash: this.tokens.hash(secret), expiresAt });
    // Expired sessions go when anyone signs in: the table stays as small as the number of people using the console.
    await this.db.delete(sessions).where(lt(sessions.expiresAt, sql`now()`));
    return { principal: { ...principal, via: 'session' }, cookie: `${id}.${secret}`, expiresAt };
  }

  /** The session a cookie stands for, when it and its token are live. */
  async authenticate(cookie: string): Promise<(Principal & { sessionId: string }) | null> {
    const m = FORMAT.exec(cookie);
    if (!m) return null;
    const [row] = await this.db
      .select({ session: sessions, token: apiTokens })
      .from(sessions)
      .innerJoin(apiTokens, eq(apiTokens.id, sessions.tokenId))
      .where(
        and(
          eq(sessions.id, m[1]!),
          gt(sessions.expiresAt, sql`now()`),
          isNull(apiTokens.revokedAt),
          or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`)),
        ),
      );
    if (!row || !this.tokens.matches(m[2]!, row.session.secretHash)) return null;
    this.tokens.touch(row.token);
    const { token } = row;
    return { tokenId: token.id, name: token.name, role: token.role, expiresAt: row.session.expiresAt, via: 'session', sessionId: row.session.id };
  }

  /**
   * Signs out. The session is ended (expires now) rather than deleted: the sign-out's own caller check, the last
   * statement of its transaction, knows it as ended by this very change (drizzle/0009). Ended sessions go with the
   * expired ones at the next sign-in.
   */
  async close(sessionId: string): Promise<void> {
    await this.db.update(sessions).set({ expiresAt: sql`now()` }).where(eq(sessions.id, sessionId));
    this.tokens.recent.forget({ sessionId });
  }
}
