import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { settings } from '../db/schema.ts';

const KEY = 'admin_token_sha256';

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Compares a presented secret with a stored sha256 digest in constant time. */
export function matchesDigest(presented: string, digest: Buffer): boolean {
  const candidate = sha256(presented);
  return candidate.length === digest.length && timingSafeEqual(candidate, digest);
}

export interface AdminAuth {
  verify(token: string): boolean;
  /**
   * Keeps the token this start generated, when there was none: stores its hash and returns the token, which the
   * caller prints at once. Called only after every server of the manager is up, so that a start that fails (a
   * port taken) never stores a token nobody has seen. Null when nothing was generated, or when another replica
   * stored one first (this one then verifies against that).
   */
  commit(): Promise<string | null>;
}

/**
 * The admin bearer token. OCDN_ADMIN_TOKEN wins when set (it is also how an operator who lost the generated
 * token gets back in); otherwise the token stored by an earlier start is used, and when none exists yet a new
 * one is generated here and stored by commit().
 */
export async function loadAdminAuth(db: Db, configured: string | undefined): Promise<AdminAuth> {
  const fixed = (digest: Buffer): AdminAuth => ({ verify: (t) => matchesDigest(t, digest), commit: async () => null });
  if (configured) return fixed(sha256(configured));
  const [row] = await db.select().from(settings).where(eq(settings.key, KEY));
  if (row) return fixed(Buffer.from(row.value, 'hex'));
  const token = `oat_${randomBytes(32).toString('base64url')}`;
  let digest = sha256(token);
  return {
    verify: (t) => matchesDigest(t, digest),
    async commit() {
      const inserted = await db.insert(settings).values({ key: KEY, value: digest.toString('hex') }).onConflictDoNothing().returning({ key: settings.key });
      if (inserted.length > 0) return token;
      const [stored] = await db.select().from(settings).where(eq(settings.key, KEY)); // another replica stored one first
      digest = Buffer.from(stored!.value, 'hex');
      return null;
    },
  };
}
