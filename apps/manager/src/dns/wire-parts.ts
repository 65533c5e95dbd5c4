// The parts the built-in DNS's answers are made of (wire.ts): names, resource records, the OPT
// record, and reading names in place.
import net from 'node:net';

export const TYPE = { A: 1, NS: 2, SOA: 6, AAAA: 28, OPT: 41, ANY: 255 } as const;
export const CLASS_IN = 1;
/** The UDP payload size this server offers (the DNS flag day 2020 value: no IP fragmentation). */
export const SERVER_UDP_SIZE = 1232;

/** `shop.cdn.example` → wire format, lower case. Throws on a name DNS cannot carry. */
export function toWire(name: string): Buffer {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.').filter((l) => l !== '');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length > 63) throw new Error(`DNS label longer than 63 bytes in ${name}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) throw new Error(`DNS name longer than 255 bytes: ${name}`);
  return wire;
}

export function rr(owner: Buffer, type: number, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(CLASS_IN, 2);
  fixed.writeUInt32BE(ttl >>> 0, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, fixed, rdata]);
}

export const POINTER_TO_QUESTION = Buffer.from([0xc0, 0x0c]);

export function addressRdata(ip: string): Buffer | null {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (net.isIPv6(ip)) {
    // A dotted quad at the end (::ffff:192.0.2.1) is two groups.
    const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
    if (quad) ip = ip.slice(0, quad.index) + [0, 2].map((i) => ((Number(quad[i + 1]) << 8) | Number(quad[i + 2])).toString(16)).join(':');
    const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const out = Buffer.alloc(16);
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
    return out;
  }
  return null;
}


/**
 * Answer records that point at the question (0xC00C), rewritten to carry `key` (a wire name) as their owner: in full
 * in the first, which sits at `offset` in the reply, and as a pointer to it in the others.
 */
export function ownedBy(key: string, [rrs, count]: [Buffer, number], offset: number): [Buffer, number] {
  if (count === 0 || offset > 0x3fff) return [rrs, count];
  const name = Buffer.from(key, 'latin1');
  const out = Buffer.allocUnsafe(rrs.length + name.length - 2);
  let at = name.copy(out, 0);
  let from = 0;
  for (let i = 0; i < count; i++) {
    if (i > 0) at = out.writeUInt16BE(0xc000 | offset, at);
    const rdlen = rrs.readUInt16BE(from + 10);
    at += rrs.copy(out, at, from + 2, from + 12 + rdlen);
    from += 12 + rdlen;
  }
  return [out, count];
}

export function optRecord(rcode: number, doBit: number): Buffer {
  const out = Buffer.alloc(11);
  out[0] = 0; // the root name
  out.writeUInt16BE(TYPE.OPT, 1);
  out.writeUInt16BE(SERVER_UDP_SIZE, 3);
  out[5] = rcode >> 4; // the extended RCODE's upper eight bits
  out[6] = 0; // EDNS version 0
  out.writeUInt16BE(doBit, 7);
  out.writeUInt16BE(0, 9); // no options
  return out;
}

/** The offset after a (possibly compressed) name at `at`, or -1 when it runs past the message. */
export function skipName(msg: Buffer, at: number): number {
  for (let i = 0; i < 128; i++) {
    if (at >= msg.length) return -1;
    const len = msg[at]!;
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2 <= msg.length ? at + 2 : -1;
    if (len > 63) return -1;
    at += 1 + len;
  }
  return -1;
}

export function lowerAscii(name: Buffer): Buffer {
  const out = Buffer.from(name);
  // Length bytes are at most 63, below 'A': lowering every byte in A–Z touches only letters.
  for (let i = 0; i < out.length; i++) if (out[i]! >= 0x41 && out[i]! <= 0x5a) out[i] = out[i]! + 0x20;
  return out;
}

/** Whether the wire name `key` is the zone or below it (label boundaries respected). */
export function inZone(key: string, zoneKey: string): boolean {
  if (key.length === zoneKey.length) return key === zoneKey;
  if (!key.endsWith(zoneKey)) return false;
  // Walk the labels: one must start exactly where the zone's suffix does.
  const boundary = key.length - zoneKey.length;
  let at = 0;
  while (at < boundary) at += key.charCodeAt(at) + 1;
  return at === boundary;
}
