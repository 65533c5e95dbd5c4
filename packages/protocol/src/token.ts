/**
 * Node tokens look like `<nodeId>.<secret>`: the agent learns its node id from its token, and the manager finds the
 * node by id and compares the secret's hash in constant time.
 */
export function splitNodeToken(token: string): { nodeId: string; secret: string } | null {
  const m = /^(nod_[0-9a-z]{8,40})\.([A-Za-z0-9_-]{20,128})$/.exec(token);
  if (!m) return null;
  return { nodeId: m[1]!, secret: m[2]! };
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined | null): string | null {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1] ?? null;
}
