import { addressRdata, CLASS_IN, SERVER_UDP_SIZE, inZone, lowerAscii, optRecord, ownedBy, POINTER_TO_QUESTION, rr, skipName, toWire, TYPE } from './wire-parts.ts';

/**
 * The built-in DNS's answers, on the wire. Every answer is assembled from bytes encoded when the records change: the
 * query's header and question are read in place (no decode into objects), and the reply is the query's own
 * question (its case kept) followed by prepared resource records whose owner is a pointer to that question. What is
 * done per query is a map lookup and a few copies.
 *
 * Protocol: one question of class IN; EDNS(0) (RFC 6891): an OPT record in the query is answered with one carrying
 * this server's UDP payload size, an unknown EDNS version with BADVERS, and an answer larger than the client can take
 * over UDP (512 bytes without EDNS, its advertised size with) is sent truncated (TC) so that it asks again over TCP.
 * At most `maxAnswers` addresses go in one answer, rotated across queries.
 */

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export type RcodeName = keyof typeof RCODE;
const RCODE_NAMES = new Map<number, RcodeName>(Object.entries(RCODE).map(([k, v]) => [v, k as RcodeName]));

export interface NameServer {
  name: string;
  ip: string;
}

export interface ZoneOptions {
  zone: string;
  /** TTL of SOA and NS, and the SOA minimum. */
  ttl: number;
  nameServers: NameServer[];
  /** At most this many addresses per answer (0: all). */
  maxAnswers: number;
}

/** The answer to one query, and how it ended (for the metrics). */
export interface Reply {
  bytes: Buffer;
  rcode: RcodeName;
  truncated: boolean;
}

/** A name's addresses, as answer records whose owner points at the question (0xC00C). */
interface Addresses {
  /** The records twice over, so that any rotation is one contiguous slice. */
  rrs: Buffer;
  count: number;
  next: number;
  /** What is answered while addresses are withheld (see withhold()), as of `gen`. */
  served?: Addresses;
  gen?: number;
}

const A_RR_SIZE = 16;

export class ZoneAnswers {
  private readonly zoneWire: Buffer;
  private readonly zoneKey: string;
  /** Wire names (latin1 strings, lower case) of every name that has addresses. */
  private names = new Map<string, Addresses>();
  /** Names that exist only because names below them do (empty non-terminals: NODATA, not NXDOMAIN), with how many. */
  private between = new Map<string, number>();
  private soaRr: Buffer = Buffer.alloc(0);
  private readonly nsRrs: Buffer;
  private readonly glue: Buffer;
  private readonly glueCount: number;
  /** Glue records by the name server's wire name, for A/AAAA questions about it. */
  private readonly nsAddresses = new Map<string, { type: number; rr: Buffer }[]>();
  private readonly maxAnswers: number;
  /** Addresses withheld from answers (IPv4, as the 32-bit number of their record's data). */
  private readonly withheld = new Set<number>();
  /** Moves whenever `withheld` changes: a name's `served` records are made again when theirs is older. */
  private withheldGen = 0;
  serial = 0;

  constructor(private readonly opts: ZoneOptions) {
    this.zoneWire = toWire(opts.zone);
    this.zoneKey = this.zoneWire.toString('latin1');
    this.maxAnswers = opts.maxAnswers > 0 ? opts.maxAnswers : Number.MAX_SAFE_INTEGER;
    const zoneKey = this.zoneKey;
    const ns: Buffer[] = [];
    const glue: Buffer[] = [];
    for (const server of opts.nameServers) {
      const nameWire = toWire(server.name);
      ns.push(rr(this.zoneWire, TYPE.NS, opts.ttl, nameWire));
      const key = nameWire.toString('latin1');
      // Glue only for a name server inside the zone: its address is for this server to give.
      if (!inZone(key, zoneKey)) continue;
      const list = this.nsAddresses.get(key) ?? [];
      this.nsAddresses.set(key, list); // the name exists, with or without an address
      const data = addressRdata(server.ip);
      if (!data) continue;
      const type = data.length === 4 ? TYPE.A : TYPE.AAAA;
      glue.push(rr(nameWire, type, opts.ttl, data));
      list.push({ type, rr: rr(POINTER_TO_QUESTION, type, opts.ttl, data) });
      this.nsAddresses.set(key, list);
    }
    this.nsRrs = Buffer.concat(ns);
    this.glue = Buffer.concat(glue);
    this.glueCount = glue.length;
    this.setSerial(0);
  }

  setSerial(serial: number): void {
    this.serial = serial;
    const first = this.opts.nameServers[0]?.name ?? `ns.${this.opts.zone}`;
    const rdata = Buffer.concat([toWire(first), toWire(`hostmaster.${this.opts.zone}`), Buffer.alloc(20)]);
    const fixed = rdata.length - 20;
    rdata.writeUInt32BE(serial >>> 0, fixed);
    rdata.writeUInt32BE(300, fixed + 4); // refresh
    rdata.writeUInt32BE(60, fixed + 8); // retry
    rdata.writeUInt32BE(86_400, fixed + 12); // expire
    rdata.writeUInt32BE(this.opts.ttl, fixed + 16); // minimum (negative answers' TTL)
    this.soaRr = rr(this.zoneWire, TYPE.SOA, this.opts.ttl, rdata);
  }

  /**
   * Sets the addresses of one name (an empty list removes it). `change`: a change of the records (not the whole
   * zone read again), where an address the name did not have is published again.
   */
  set(name: string, records: { value: string; ttl: number }[], change = true): void {
    let key: string;
    try {
      key = toWire(name).toString('latin1');
    } catch {
      return; // a name DNS cannot carry is never asked for
    }
    const rrs: Buffer[] = [];
    for (const r of records) {
      const data = addressRdata(r.value);
      if (data?.length === 4) rrs.push(rr(POINTER_TO_QUESTION, TYPE.A, r.ttl, data));
    }
    const had = this.names.get(key);
    // A withheld address published again (a recovered node, verified by its run): no longer withheld.
    if (change && this.withheld.size > 0) {
      for (const r of rrs) {
        const ip = r.readUInt32BE(12);
        if (this.withheld.has(ip) && !(had && indexOfAddress(had, ip) >= 0)) this.release(ip);
      }
    }
    if (rrs.length === 0) {
      if (had) {
        this.names.delete(key);
        this.countBetween(key, -1);
      }
      return;
    }
    const once = Buffer.concat(rrs);
    this.names.set(key, { rrs: Buffer.concat([once, once]), count: rrs.length, next: had?.next ?? 0 });
    if (!had) this.countBetween(key, 1);
  }

  /** Replaces every name's addresses. */
  setAll(byName: Iterable<[string, { value: string; ttl: number }[]]>): void {
    this.names = new Map();
    this.between = new Map();
    for (const [name, records] of byName) this.set(name, records, false);
  }

  /**
   * Leaves `ip` out of every answer until it is released or published again for a name (set()) — except where it is a name's only address (fail open, as FAULT_NODE leaves a domain's last address
   * published). The health watch thread withholds a dead agent's address the moment it decides, so that answers stop
   * giving it before the decision is written and FAULT_NODE's steps delete its records. True if it was not withheld.
   */
  withhold(ip: string): boolean {
    const data = addressRdata(ip);
    if (data?.length !== 4) return false;
    const n = data.readUInt32BE(0);
    if (this.withheld.has(n)) return false;
    this.withheld.add(n);
    this.withheldGen++;
    return true;
  }

  /** Answers give `ip` again where it is published. */
  release(ip: string | number): void {
    const n = typeof ip === 'number' ? ip : addressRdata(ip)?.readUInt32BE(0);
    if (n !== undefined && this.withheld.delete(n)) this.withheldGen++;
  }

  /** Addresses withheld now. */
  get withheldCount(): number {
    return this.withheld.size;
  }

  /** What `a` answers with the withheld addresses left out (all of them when none would be left). */
  private served(a: Addresses): Addresses {
    if (this.withheld.size === 0) return a;
    if (a.gen === this.withheldGen) return a.served!;
    const kept: Buffer[] = [];
    for (let i = 0; i < a.count; i++) {
      const rrOf = a.rrs.subarray(i * A_RR_SIZE, (i + 1) * A_RR_SIZE);
      if (!this.withheld.has(rrOf.readUInt32BE(12))) kept.push(rrOf);
    }
    const once = Buffer.concat(kept);
    a.served = kept.length === 0 || kept.length === a.count ? a : { rrs: Buffer.concat([once, once]), count: kept.length, next: 0 };
    a.gen = this.withheldGen;
    return a.served;
  }

  /** Counts `key` in or out of the names between it and the apex (empty non-terminals while a name is below them). */
  private countBetween(key: string, by: 1 | -1): void {
    for (let at = key.charCodeAt(0) + 1; key.length - at > this.zoneKey.length; at += key.charCodeAt(at) + 1) {
      const parent = key.slice(at);
      const n = (this.between.get(parent) ?? 0) + by;
      if (n > 0) this.between.set(parent, n);
      else this.between.delete(parent);
    }
  }

  /** Answers one message as received; null for what deserves no answer (not a query, shorter than a header). */
  answer(msg: Buffer, udp: boolean): Reply | null {
    if (msg.length < 12) return null;
    const flags = msg.readUInt16BE(2);
    if (flags & 0x8000) return null; // a response: never answered (no loops between servers)
    const opcode = (flags >> 11) & 0xf;
    const qdcount = msg.readUInt16BE(4);
    // The question, read in place.
    let end = 12;
    let upper = false;
    let ok = qdcount === 1;
    if (ok) {
      for (;;) {
        if (end >= msg.length) {
          ok = false;
          break;
        }
        const len = msg[end]!;
        if (len === 0) {
          end++;
          break;
        }
        if (len > 63 || end + 1 + len > msg.length || end + 1 + len - 12 > 254) {
          ok = false; // a compression pointer or a label too long in a question, or a name past 255 bytes
          break;
        }
        for (let i = end + 1; i <= end + len; i++) {
          const ch = msg[i]!;
          if (ch >= 0x41 && ch <= 0x5a) upper = true;
        }
        end += 1 + len;
      }
      if (ok && end + 4 > msg.length) ok = false;
    }
    if (!ok) return this.bare(msg, flags, RCODE.FORMERR);
    const qtype = msg.readUInt16BE(end);
    const qclass = msg.readUInt16BE(end + 2);
    const question = msg.subarray(12, end + 4);
    // The additional section: at most one OPT, of the root name.
    let edns = false;
    let clientSize = 512;
    let doBit = 0;
    let version = 0;
    const ancount = msg.readUInt16BE(6);
    const nscount = msg.readUInt16BE(8);
    const arcount = msg.readUInt16BE(10);
    if (ancount !== 0 || nscount !== 0) return this.reply(msg, flags, question, RCODE.FORMERR, null, { aa: false });
    let at = end + 4;
    for (let i = 0; i < arcount; i++) {
      const nameEnd = skipName(msg, at);
      if (nameEnd < 0 || nameEnd + 10 > msg.length) return this.reply(msg, flags, question, RCODE.FORMERR, null, { aa: false });
      const type = msg.readUInt16BE(nameEnd);
      const rdlen = msg.readUInt16BE(nameEnd + 8);
      if (nameEnd + 10 + rdlen > msg.length) return this.reply(msg, flags, question, RCODE.FORMERR, null, { aa: false });
      if (type === TYPE.OPT) {
        if (edns || nameEnd !== at + 1) return this.reply(msg, flags, question, RCODE.FORMERR, null, { aa: false }); // two OPTs, or not the root
        edns = true;
        clientSize = Math.max(512, msg.readUInt16BE(nameEnd + 2));
        version = msg[nameEnd + 5]!;
        doBit = msg.readUInt16BE(nameEnd + 6) & 0x8000;
      }
      at = nameEnd + 10 + rdlen;
    }
    const opt = edns ? { doBit } : null;
    if (edns && version !== 0) return this.reply(msg, flags, question, RCODE.BADVERS, opt, { aa: false });
    if (opcode !== 0) return this.reply(msg, flags, question, RCODE.NOTIMP, opt, { aa: false });
    const limit = udp ? (edns ? Math.min(clientSize, SERVER_UDP_SIZE) : 512) : 65_535;
    let key = msg.toString('latin1', 12, end);
    if (upper) key = lowerAscii(msg.subarray(12, end)).toString('latin1');
    const zoneKey = this.zoneKey;
    // Another class, or a name outside the zone: not ours to answer (as BIND without recursion, no AA).
    if (qclass !== CLASS_IN || !inZone(key, zoneKey)) return this.reply(msg, flags, question, RCODE.REFUSED, opt, { aa: false });
    const wantsA = qtype === TYPE.A || qtype === TYPE.ANY;
    const addresses = this.names.get(key);
    if (key.length === zoneKey.length) {
      if (qtype === TYPE.SOA) return this.reply(msg, flags, question, RCODE.NOERROR, opt, { answers: [this.soaRr, 1], limit });
      if (qtype === TYPE.NS) return this.reply(msg, flags, question, RCODE.NOERROR, opt, { answers: [this.nsRrs, this.opts.nameServers.length], additional: [this.glue, this.glueCount], limit });
    }
    if (addresses && wantsA) {
      const answers = this.rotate(this.served(addresses));
      // Asked in other case (0x20 randomisation): the owner is the name as published, as BIND gives it.
      return this.reply(msg, flags, question, RCODE.NOERROR, opt, { answers: upper ? ownedBy(key, answers, 12 + question.length) : answers, limit });
    }
    const ns = this.nsAddresses.get(key);
    if (ns) {
      const matching = ns.filter((g) => g.type === qtype || qtype === TYPE.ANY);
      if (matching.length > 0) {
        const answers: [Buffer, number] = [Buffer.concat(matching.map((g) => g.rr)), matching.length];
        return this.reply(msg, flags, question, RCODE.NOERROR, opt, { answers: upper ? ownedBy(key, answers, 12 + question.length) : answers, limit });
      }
    }
    // The name exists (records, apex, name server, or a name below it does) but has no data of this type: NODATA.
    const exists = addresses || ns || key.length === zoneKey.length || this.between.has(key);
    return this.reply(msg, flags, question, exists ? RCODE.NOERROR : RCODE.NXDOMAIN, opt, { authority: [this.soaRr, 1], limit });
  }

  private rotate(a: Addresses): [Buffer, number] {
    const n = Math.min(a.count, this.maxAnswers);
    const start = a.next % a.count;
    a.next = (start + 1) % a.count;
    return [a.rrs.subarray(start * A_RR_SIZE, (start + n) * A_RR_SIZE), n];
  }

  /** FORMERR for a message whose question cannot be read: the header alone. */
  private bare(msg: Buffer, flags: number, rcode: number): Reply {
    const out = Buffer.alloc(12);
    msg.copy(out, 0, 0, 2);
    out.writeUInt16BE(0x8000 | (flags & 0x7900) | rcode, 2); // QR, opcode and RD copied
    return { bytes: out, rcode: RCODE_NAMES.get(rcode)!, truncated: false };
  }

  private reply(
    msg: Buffer,
    flags: number,
    question: Buffer,
    rcode: number,
    opt: { doBit: number } | null,
    body: { answers?: [Buffer, number]; authority?: [Buffer, number]; additional?: [Buffer, number]; limit?: number; aa?: boolean } = {},
  ): Reply {
    const optRr = opt ? optRecord(rcode, opt.doBit) : null;
    const answers = body.answers ?? [EMPTY, 0];
    const authority = body.authority ?? [EMPTY, 0];
    const additional = body.additional ?? [EMPTY, 0];
    const optLen = optRr ? optRr.length : 0;
    let size = 12 + question.length + answers[0].length + authority[0].length + additional[0].length + optLen;
    let truncated = false;
    let sections = [answers, authority, additional];
    if (body.limit !== undefined && size > body.limit) {
      // Too large for the client over UDP: the header, the question and the OPT, flagged TC; it asks again over TCP.
      truncated = true;
      sections = [[EMPTY, 0], [EMPTY, 0], [EMPTY, 0]];
      size = 12 + question.length + optLen;
    }
    const out = Buffer.allocUnsafe(size);
    msg.copy(out, 0, 0, 2);
    const aa = body.aa === false ? 0 : 0x0400;
    out.writeUInt16BE(0x8000 | (flags & 0x7900) | aa | (truncated ? 0x0200 : 0) | (rcode & 0xf), 2);
    out.writeUInt16BE(1, 4);
    out.writeUInt16BE(sections[0]![1], 6);
    out.writeUInt16BE(sections[1]![1], 8);
    out.writeUInt16BE(sections[2]![1] + (optRr ? 1 : 0), 10);
    let at = 12 + question.copy(out, 12);
    for (const [bytes] of sections) at += bytes.copy(out, at);
    if (optRr) optRr.copy(out, at);
    return { bytes: out, rcode: RCODE_NAMES.get(rcode) ?? 'SERVFAIL', truncated };
  }
}

const EMPTY = Buffer.alloc(0);

/** Where the address `ip` (a 32-bit number) is among a name's records, or -1. */
function indexOfAddress(a: Addresses, ip: number): number {
  for (let i = 0; i < a.count; i++) if (a.rrs.readUInt32BE(i * A_RR_SIZE + 12) === ip) return i;
  return -1;
}
