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
  /** Set only when this start generated the token: the caller prints it once. */
  generated: string | null;
}

/**
 * The admin bearer token. OCDN_ADMIN_TOKEN wins when set; otherwise the token generated on the first start is
 * used (only its hash is stored), and a new one is generated, stored and returned once when none exists yet.
 */
export async function loadAdminAuth(db: Db, configured: string | undefined): Promise<AdminAuth> {
  if (configured) {
    const digest = sha256(configured);
    return { verify: (t) => matchesDigest(t, digest), generated: null };
  }
  const [row] = await db.select().from(settings).where(eq(settings.key, KEY));
  if (row) {
    const digest = Buffer.from(row.value, 'hex');
    return { verify: (t) => matchesDigest(t, digest), generated: null };
  }
  const token = `oat_${randomBytes(32).toString('base64url')}`;
  const digest = sha256(token);
  const inserted = await db
    .insert(settings)
    .values({ key: KEY, value: digest.toString('hex') })
    .onConflictDoNothing()
    .returning({ key: settings.key });
  if (inserted.length === 0) return loadAdminAuth(db, configured); // another replica generated it first
  return { verify: (t) => matchesDigest(t, digest), generated: token };
}
