import { createHash, timingSafeEqual } from 'node:crypto';
import { bearerToken } from '@ocdn/protocol';

/** Checks an `Authorization: Bearer …` header against the node token in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = bearerToken(header);
  if (!presented) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}
