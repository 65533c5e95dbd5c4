import { createHmac, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '../log.ts';
import type { DnsProvider } from './provider.ts';
import type { DnsRecordStore } from './records.ts';

/** A TSIG key (RFC 8945): its name, algorithm and secret. */
export interface TsigKey {
  name: string;
  algorithm: 'hmac-sha256' | 'hmac-sha512' | 'hmac-sha1';
  secret: Buffer;
}

export interface UpdateOp {
  op: 'add' | 'delete';
  name: string;
  ip: string;
  ttl: number;
}

const TYPE = { A: 1, SOA: 6, TSIG: 250 } as const;
const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

/** A name in wire format (no compression), lower-cased: the canonical form TSIG signs. */
export function encodeName(name: string): Buffer {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.').filter(Boolean);
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'ascii');
    if (b.length > 63) throw new Error(`label "${l}" is longer than 63`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function u48(n: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}

function rr(name: string, type: number, cls: number, ttl: number, rdata: Buffer): Buffer {
  return Buffer.concat([encodeName(name), u16(type), u16(cls), u32(ttl), u16(rdata.length), rdata]);
}

function ipv4(ip: string): Buffer {
  if (!net.isIPv4(ip)) throw new Error(`${ip} is not an IPv4 address`);
  return Buffer.from(ip.split('.').map(Number));
}

/**
 * An RFC 2136 UPDATE for `zone`: adds (`name TTL IN A ip`) and deletes of one record (`name 0 NONE A ip`).
 * Adding a record that exists and deleting one that does not are no-ops for the server, so updates are idempotent.
 */
export function buildUpdate(id: number, zone: string, ops: UpdateOp[]): Buffer {
  const header = Buffer.concat([u16(id), u16(5 << 11), u16(1), u16(0), u16(ops.length), u16(0)]);
  const zoneSection = Buffer.concat([encodeName(zone), u16(TYPE.SOA), u16(CLASS.IN)]);
  const updates = ops.map((o) => (o.op === 'add' ? rr(o.name, TYPE.A, CLASS.IN, o.ttl, ipv4(o.ip)) : rr(o.name, TYPE.A, CLASS.NONE, 0, ipv4(o.ip))));
  return Buffer.concat([header, zoneSection, ...updates]);
}

/** Appends a TSIG record signing `msg` (RFC 8945 §4.3) and counts it in ARCOUNT. */
export function signTsig(msg: Buffer, key: TsigKey, timeSigned: number, fudge = 300): Buffer {
  const alg = encodeName(key.algorithm);
  const variables = Buffer.concat([encodeName(key.name), u16(CLASS.ANY), u32(0), alg, u48(timeSigned), u16(fudge), u16(0), u16(0)]);
  const mac = createHmac(key.algorithm.slice('hmac-'.length), key.secret).update(Buffer.concat([msg, variables])).digest();
  const rdata = Buffer.concat([alg, u48(timeSigned), u16(fudge), u16(mac.length), mac, msg.subarray(0, 2), u16(0), u16(0)]);
  const signed = Buffer.concat([msg, rr(key.name, TYPE.TSIG, CLASS.ANY, 0, rdata)]);
  signed.writeUInt16BE(signed.readUInt16BE(10) + 1, 10);
  return signed;
}

export interface Rfc2136Options {
  server: { host: string; port: number };
  zone: string;
  key: TsigKey;
  ttl: number;
  store: DnsRecordStore;
  log: Logger;
  timeoutMs?: number;
}

/**
 * The rfc2136 provider: records are sent as TSIG-signed dynamic updates to the zone's primary (BIND, Knot,
 * PowerDNS, …) and kept in the database too, so that the API and fail-open decisions know what is published.
 */
export class Rfc2136Provider implements DnsProvider {
  readonly name = 'rfc2136';

  constructor(private readonly opts: Rfc2136Options) {}

  async upsert(name: string, ip: string): Promise<void> {
    await this.send([{ op: 'add', name, ip, ttl: this.opts.ttl }]);
    await this.opts.store.upsert(name, ip, this.opts.ttl);
  }

  async remove(name: string, ip: string): Promise<void> {
    await this.send([{ op: 'delete', name, ip, ttl: 0 }]);
    await this.opts.store.remove(name, ip);
  }

  private async send(ops: UpdateOp[]): Promise<void> {
    const id = randomInt(0, 65536);
    const msg = signTsig(buildUpdate(id, this.opts.zone, ops), this.opts.key, Math.floor(Date.now() / 1000));
    const reply = await this.exchange(msg);
    if (reply.readUInt16BE(0) !== id) throw new Error('DNS UPDATE answer has another id');
    const rcode = reply.readUInt16BE(2) & 0x0f;
    if (rcode !== 0) {
      const where = `${this.opts.server.host}:${this.opts.server.port}`;
      throw new Error(`DNS UPDATE refused by ${where}: ${RCODES[rcode] ?? `rcode ${rcode}`}${rcode === 9 ? ' (TSIG key or clock wrong)' : ''}`);
    }
    this.opts.log.info({ ops: ops.map((o) => `${o.op} ${o.name} A ${o.ip}`) }, 'DNS UPDATE accepted');
  }

  private exchange(msg: Buffer): Promise<Buffer> {
    const { host, port } = this.opts.server;
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      const timer = setTimeout(() => {
        sock.close();
        reject(new Error(`DNS UPDATE to ${host}:${port} got no answer within ${this.opts.timeoutMs ?? 3000} ms`));
      }, this.opts.timeoutMs ?? 3000);
      sock.on('error', (err) => {
        clearTimeout(timer);
        sock.close();
        reject(err);
      });
      sock.on('message', (reply) => {
        clearTimeout(timer);
        sock.close();
        resolve(reply);
      });
      sock.send(msg, port, host);
    });
  }
}

/** Parses `host:port` (IPv6 as `[addr]:port`) for OCDN_RFC2136_SERVER. */
export function parseServer(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(s);
  if (!m) return null;
  const port = m[3] ? Number(m[3]) : 53;
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}
