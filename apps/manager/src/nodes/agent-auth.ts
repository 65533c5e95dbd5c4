import { eq } from 'drizzle-orm';
import { splitNodeToken } from '@ocdn/protocol';
import { matchesDigest } from '../access/digest.ts';
import type { Db } from '../db/client.ts';
import { nodes } from '../db/schema.ts';
import type { AuthenticatedNode } from '../hub/hub.ts';

/**
 * Finds the live node a bearer token belongs to. The token names its node; the secret's sha256 is compared with the
 * stored one in constant time. Deleted nodes are refused.
 */
export async function authenticateNodeToken(db: Db, token: string): Promise<AuthenticatedNode | null> {
  const parts = splitNodeToken(token);
  if (!parts) return null;
  const [row] = await db
    .select({ id: nodes.id, tokenHash: nodes.tokenHash, status: nodes.status, roles: nodes.roles })
    .from(nodes)
    .where(eq(nodes.id, parts.nodeId));
  if (!row || row.status === 'delete') return null;
  if (!matchesDigest(parts.secret, Buffer.from(row.tokenHash, 'hex'))) return null;
  return { nodeId: row.id, roles: row.roles };
}
