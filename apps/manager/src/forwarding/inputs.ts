import { isIP } from 'node:net';
import { invalidField } from '../errors.ts';

/** A 400 that names the field. */
export const bad = invalidField;

/** A forwarder address: `IPv4`, `IPv4:port`, `IPv6` or `[IPv6]:port`; the port defaults to 53. */
export function parseForwarder(s: string): { ip: string; port: number } | string {
  let ip = s;
  let port = 53;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  const v4 = /^([0-9.]+):(\d+)$/.exec(s);
  if (v6) {
    ip = v6[1]!;
    if (v6[2] !== undefined) port = Number(v6[2]);
    if (isIP(ip) !== 6) return `"${s}" is not an IPv6 address`;
  } else if (v4) {
    ip = v4[1]!;
    port = Number(v4[2]);
    if (isIP(ip) !== 4) return `"${s}" is not an IPv4 address`;
  } else if (!isIP(s)) return `"${s}" is not an IP address (IPv4, IPv4:port, IPv6 or [IPv6]:port)`;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `port ${port} is out of range (1–65535)`;
  return { ip, port };
}

export function checkAddresses(addresses: string[], field = 'addresses'): string[] {
  return addresses.map((a, i) => {
    const r = parseForwarder(a);
    if (typeof r === 'string') throw bad(`${field}.${i}`, r);
    return a;
  });
}

/** A client match: `any`, an address, or a CIDR prefix. */
export function checkMatchClients(list: string[], field = 'matchClients'): string[] {
  return list.map((m, i) => {
    const s = m;
    if (s === 'any') return s;
    const [addr, len, extra] = s.split('/');
    const family = isIP(addr ?? '');
    const max = family === 4 ? 32 : 128;
    if (!family || extra !== undefined || (len !== undefined && (!/^\d{1,3}$/.test(len) || Number(len) > max))) {
      throw bad(`${field}.${i}`, `"${m}" is not an address, a CIDR prefix or "any"`);
    }
    return s;
  });
}

/** Unique, order kept. */
export const uniq = <T>(xs: T[]) => [...new Set(xs)];

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/**
 * A name to forward: one or more labels (a single label such as `corp` or `test` is a fine forward zone), letters,
 * digits, `-` and `_`, 253 characters at most, no trailing dot. Returns it lower-cased (its canonical form; nothing
 * else is rewritten), or a reason.
 */
export function forwardDomain(s: string): { ok: true; name: string } | { ok: false; reason: string } {
  const name = s.toLowerCase();
  if (name.endsWith('.')) return { ok: false, reason: 'no trailing dot' };
  if (name.length === 0 || name.length > 253) return { ok: false, reason: 'must be 1–253 characters' };
  const bad = name.split('.').find((l) => !LABEL.test(l));
  if (bad !== undefined) return { ok: false, reason: `"${s}" is not a domain name (label "${bad}")` };
  return { ok: true, name };
}
