import type { Principal } from './tokens.ts';

/**
 * Credentials this replica verified lately (keyed by their keyed hash, never the secret itself), with their caller.
 * On PostgreSQL (several replicas may revoke) a read by such a caller runs alongside the lookup of its credential
 * instead of after it: the lookup still decides, and a refused read's answer is replaced by the refusal before
 * anything is sent. Credentials nobody verified here (a guessed token) are looked up first, so they cannot make the
 * manager do work. On the embedded database this process is the only writer: revocations and sign-outs drop their
 * callers here (forget), and a caller found here needs no lookup.
 */
export class RecentCallers {
  private readonly map = new Map<string, { principal: Principal; sessionId: string | undefined; until: number }>();
  static readonly TTL_MS = 10 * 60_000;
  static readonly MAX = 10_000;

  get(key: string): { principal: Principal; sessionId: string | undefined } | undefined {
    const hit = this.map.get(key);
    if (hit && hit.until > Date.now()) return hit;
    if (hit) this.map.delete(key);
    return undefined;
  }

  set(key: string, principal: Principal, sessionId: string | undefined): void {
    if (this.map.size >= RecentCallers.MAX) this.map.delete(this.map.keys().next().value!);
    const until = Math.min(Date.now() + RecentCallers.TTL_MS, principal.expiresAt?.getTime() ?? Infinity);
    this.map.set(key, { principal, sessionId, until });
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  /** Drops every caller of a token (revoked) or of a session (signed out). */
  forget(match: { tokenId?: string; sessionId?: string }): void {
    for (const [key, hit] of this.map) {
      if ((match.tokenId && hit.principal.tokenId === match.tokenId) || (match.sessionId && hit.sessionId === match.sessionId)) this.map.delete(key);
    }
  }
}

