import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from 'dns-packet';
import type { Logger } from '../log.ts';
import type { DnsRecord, DnsRecordStore, RecordChange } from './records.ts';

const RCODE = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface BuiltinDnsOptions {
  zone: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  ttl: number;
  store: DnsRecordStore;
  log: Logger;
  /** How often the record serial is checked for changes made by other replicas. */
  refreshMs?: number;
}

/**
 * The built-in authoritative DNS for the CDN zone, over UDP and TCP: A records of published nodes (several per
 * name), SOA and NS at the apex, NXDOMAIN for other names in the zone and REFUSED outside it. Answers come from
 * memory: this replica's own changes apply at once, and the records are reloaded from the database when the serial
 * moves past what this replica has seen.
 */
export class BuiltinDns {
  private byName = new Map<string, DnsRecord[]>();
  private serial = 0;
  /** Serials of local changes past an unseen one (another replica's, or a local one not reported yet). */
  private readonly ahead = new Set<number>();
  private replay: RecordChange[] | null = null;
  private refreshing: Promise<void> | null = null;
  private refreshAgain: Promise<void> | null = null;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly zone: string;
  private readonly nsName: string;
  port = 0;

  constructor(private readonly opts: BuiltinDnsOptions) {
    this.zone = opts.zone.toLowerCase().replace(/\.$/, '');
    this.nsName = `ns.${this.zone}`;
  }

  async start(): Promise<void> {
    await this.reload();
    const family = net.isIPv6(this.opts.host) ? 'udp6' : 'udp4';
    this.udp = dgram.createSocket({ type: family });
    this.udp.on('message', (msg, rinfo) => {
      const reply = this.handle(msg, 512);
      if (reply) this.udp!.send(reply, rinfo.port, rinfo.address);
    });
    this.udp.on('error', (err) => this.opts.log.error({ err }, 'built-in DNS UDP error'));
    await new Promise<void>((resolve, reject) => {
      this.udp!.once('error', reject);
      this.udp!.bind(this.opts.port, this.opts.host, () => resolve());
    }).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`built-in DNS cannot listen on ${this.opts.host}:${this.opts.port}/udp (${err.code}); set OCDN_DNS_HOST/OCDN_DNS_PORT`);
    });
    this.port = this.udp.address().port;
    this.tcp = net.createServer((sock) => this.serveTcp(sock));
    await new Promise<void>((resolve, reject) => {
      this.tcp!.once('error', reject);
      this.tcp!.listen(this.port, this.opts.host, () => resolve());
    }).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`built-in DNS cannot listen on ${this.opts.host}:${this.port}/tcp (${err.code}); set OCDN_DNS_HOST/OCDN_DNS_PORT`);
    });
    this.timer = setInterval(() => void this.refresh().catch((err: unknown) => this.opts.log.warn({ err }, 'DNS refresh failed')), this.opts.refreshMs ?? 1000);
    this.timer.unref();
    this.opts.log.info({ zone: this.zone, host: this.opts.host, port: this.port }, 'built-in DNS listening');
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r()));
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }

  /**
   * Reloads the records if their serial moved (other replicas' changes; called periodically). One reload runs at a
   * time: callers during a reload share the next one.
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain ??= this.refreshing.then(() => {
        this.refreshAgain = null;
        return this.refresh();
      });
      return this.refreshAgain;
    }
    this.refreshing = (async () => {
      if ((await this.opts.store.serial()) !== this.serial) await this.reload();
    })().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /**
   * A change this replica committed (`serial` is the serial it moved to): answered at once, without reading the
   * table again. The serial advances only over an unbroken run of serials, so a change made by another replica in
   * between is still seen by the next refresh.
   */
  applyLocal(change: RecordChange, serial: number): void {
    this.apply(this.byName, change);
    this.replay?.push(change);
    if (serial <= this.serial) return;
    this.ahead.add(serial);
    while (this.ahead.delete(this.serial + 1)) this.serial++;
  }

  private apply(byName: Map<string, DnsRecord[]>, change: RecordChange): void {
    const list = (byName.get(change.name) ?? []).filter((r) => r.value !== change.value);
    if (change.op === 'upsert') list.push({ name: change.name, type: 'A', value: change.value, ttl: change.ttl });
    if (list.length > 0) byName.set(change.name, list);
    else byName.delete(change.name);
  }

  private async reload(): Promise<void> {
    // Local changes committed while the snapshot is read may be missing from it: they are replayed onto it.
    this.replay = [];
    try {
      const { serial, records } = await this.opts.store.snapshot();
      const byName = new Map<string, DnsRecord[]>();
      for (const r of records) {
        const list = byName.get(r.name);
        if (list) list.push(r);
        else byName.set(r.name, [r]);
      }
      for (const change of this.replay) this.apply(byName, change);
      this.byName = byName;
      this.serial = serial;
      for (const s of this.ahead) if (s <= serial) this.ahead.delete(s);
      while (this.ahead.delete(this.serial + 1)) this.serial++;
    } finally {
      this.replay = null;
    }
  }

  private serveTcp(sock: net.Socket): void {
    let buf = Buffer.alloc(0);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const reply = this.handle(msg, 65_535);
        if (!reply) return sock.destroy();
        const framed = Buffer.alloc(2 + reply.length);
        framed.writeUInt16BE(reply.length, 0);
        reply.copy(framed, 2);
        sock.write(framed);
      }
      if (buf.length > 65_537) sock.destroy();
    });
  }

  /** Answers one DNS message; null for garbage that deserves no answer. */
  handle(msg: Buffer, maxSize: number): Buffer | null {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return null;
    }
    if (query.type !== 'query') return null;
    const reply = this.answer(query);
    let out = dnsPacket.encode(reply);
    if (out.length > maxSize) {
      out = dnsPacket.encode({ ...reply, flags: (reply.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [] });
    }
    return out;
  }

  answer(query: DecodedPacket): Packet {
    const q = query.questions?.[0];
    const base: Packet = { id: query.id ?? 0, type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: q ? [q] : [] };
    const rcode = (code: number): Packet => ({ ...base, flags: (base.flags ?? 0) | code, authorities: [] });
    if (!q || query.questions!.length !== 1) return rcode(RCODE.FORMERR);
    const opcode = (query as { opcode?: string }).opcode;
    if (opcode && opcode !== 'QUERY') return rcode(RCODE.NOTIMP);
    const name = q.name.toLowerCase().replace(/\.$/, '');
    if (name !== this.zone && !name.endsWith(`.${this.zone}`)) return { ...rcode(RCODE.REFUSED), flags: RCODE.REFUSED };
    const soa = this.soa();
    if (name === this.zone) {
      if (q.type === 'SOA') return { ...base, answers: [soa] };
      if (q.type === 'NS') return { ...base, answers: [this.ns()], additionals: this.nsGlue() };
      const recs = this.byName.get(name);
      if (q.type === 'A' && recs) return { ...base, answers: recs.map((r) => this.a(name, r)) };
      return { ...base, authorities: [soa] };
    }
    if (name === this.nsName) {
      return q.type === 'A' || q.type === 'AAAA' ? { ...base, answers: this.nsGlue().filter((g) => g.type === q.type) } : { ...base, authorities: [soa] };
    }
    const recs = this.byName.get(name);
    if (!recs) return { ...rcode(RCODE.NXDOMAIN), authorities: [soa] };
    if (q.type === 'A' || (q.type as string) === 'ANY') return { ...base, answers: recs.map((r) => this.a(name, r)) };
    return { ...base, authorities: [soa] }; // the name exists, but has no data of this type
  }

  private a(name: string, r: DnsRecord): Answer {
    return { name, type: 'A', class: 'IN', ttl: r.ttl, data: r.value };
  }

  private soa(): Answer {
    return {
      name: this.zone,
      type: 'SOA',
      class: 'IN',
      ttl: this.opts.ttl,
      data: { mname: this.nsName, rname: `hostmaster.${this.zone}`, serial: this.serial, refresh: 300, retry: 60, expire: 86_400, minimum: this.opts.ttl },
    };
  }

  private ns(): Answer {
    return { name: this.zone, type: 'NS', class: 'IN', ttl: this.opts.ttl, data: this.nsName };
  }

  private nsGlue(): Answer[] {
    const host = this.opts.host;
    if (net.isIPv4(host) && host !== '0.0.0.0') return [{ name: this.nsName, type: 'A', class: 'IN', ttl: this.opts.ttl, data: host }];
    if (net.isIPv6(host) && host !== '::') return [{ name: this.nsName, type: 'AAAA', class: 'IN', ttl: this.opts.ttl, data: host }];
    return [];
  }
}
