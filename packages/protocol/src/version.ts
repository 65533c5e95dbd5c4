/**
 * Protocol version spoken between manager and agent, as "MAJOR.MINOR".
 * A different major is incompatible and refused; a newer minor on either side is accepted
 * (minors only add optional fields and methods).
 */
export const PROTOCOL_VERSION = '1.1';

/** Since 1.1 either side may send several requests or responses in one `batch` frame. */
export function supportsBatches(version: string): boolean {
  const v = parseProtocolVersion(version);
  return !!v && (v.major > 1 || (v.major === 1 && v.minor >= 1));
}

export type ProtocolCompatibility = { ok: true } | { ok: false; reason: string };

export function parseProtocolVersion(v: string): { major: number; minor: number } | null {
  const m = /^(\d{1,4})\.(\d{1,4})$/.exec(v);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]) };
}

/** Decides whether a peer speaking `remote` can talk to us speaking `local`. */
export function checkProtocolCompatibility(remote: string, local: string = PROTOCOL_VERSION): ProtocolCompatibility {
  const r = parseProtocolVersion(remote);
  const l = parseProtocolVersion(local);
  if (!r) return { ok: false, reason: `malformed protocol version "${remote}" (expected MAJOR.MINOR)` };
  if (!l) throw new Error(`local protocol version "${local}" is malformed`);
  if (r.major !== l.major) {
    return {
      ok: false,
      reason: `protocol major version ${r.major} is not supported (this side speaks ${l.major}.x)`,
    };
  }
  return { ok: true };
}
