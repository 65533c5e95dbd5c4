import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import type { DnsRecord, DnsRecordStore, RecordChange } from './records.ts';
import type { NameServer } from './wire.ts';
import type { DnsStats, FromWorker, ToWorker, WorkerConfig } from './messages.ts';

/** Without OCDN_DNS_NS: this server alone, `ns.<zone>`, with its listening address as glue (none for a wildcard). */
export function defaultNameServers(zone: string, host: string): NameServer[] {
  const wildcard = host === '0.0.0.0' || host === '::';
  return [{ name: `ns.${zone.toLowerCase().replace(/\.$/, '')}`, ip: wildcard ? '' : host }];
}

export interface BuiltinDnsOptions {
  zone: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  ttl: number;
  /** The zone's name servers (NS at the apex, with glue for those inside the zone). */
  nameServers: NameServer[];
  /** At most this many addresses per answer, rotated across queries (0: all). */
  maxAnswers: number;
  store: DnsRecordStore;
  log: Logger;
  /** How often the record serial is checked for changes made by other replicas. */
  refreshMs?: number;
}

/**
 * The built-in authoritative DNS for the CDN zone, over UDP and TCP: A records of published nodes (several per
 * name), SOA and NS at the apex, NXDOMAIN for other names in the zone and REFUSED outside it (dns/wire.ts).
 * Answers are given by a thread of their own (dns/worker.ts) from encoded records in its memory: this replica's own
 * changes apply at once, and the records are reloaded from the database when the serial moves past what this replica
 * has seen. The serial is the database's, so every replica gives the same SOA serial for the same records.
 */
export class BuiltinDns {
  private byName = new Map<string, DnsRecord[]>();
  private serial = 0;
  /** Serials of local changes past an unseen one (another replica's, or a local one not reported yet). */
  private readonly ahead = new Set<number>();
  private replay: RecordChange[] | null = null;
  private refreshing: Promise<void> | null = null;
  private refreshAgain: Promise<void> | null = null;
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly zone: string;
  private readonly asked = new Map<number, (s: DnsStats) => void>();
  private asks = 0;
  port = 0;

  constructor(private readonly opts: BuiltinDnsOptions) {
    this.zone = opts.zone.toLowerCase().replace(/\.$/, '');
  }

  async start(): Promise<void> {
    await this.reload();
    // From the sources (tsx) the thread runs worker.ts; from the bundle, dist/dns-worker.js beside dist/main.js.
    const here = import.meta.url;
    const file = here.endsWith('.ts') ? new URL('./worker.ts', here) : new URL('./dns-worker.js', here);
    const config: WorkerConfig = { zone: this.zone, ttl: this.opts.ttl, nameServers: this.opts.nameServers, maxAnswers: this.opts.maxAnswers, host: this.opts.host, port: this.opts.port };
    // A worker does not inherit the parent's module loader hooks: from the sources, it registers tsx's first.
    const worker = here.endsWith('.ts')
      ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); })`, {
          eval: true,
          workerData: config,
        })
      : new Worker(file, { workerData: config });
    this.worker = worker;
    this.post({ op: 'all', entries: [...this.byName].map(([name, list]) => [name, list.map((r) => ({ value: r.value, ttl: r.ttl }))]), serial: this.serial });
    this.port = await new Promise<number>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      worker.once('error', fail);
      worker.once('exit', (code) => reject(new Error(`the built-in DNS thread exited (${code}) before listening`)));
      worker.on('message', (m: FromWorker) => {
        if (m.op === 'listening') resolve(m.port);
        else if (m.op === 'failed') reject(new Error(m.message));
        else if (m.op === 'stats') {
          this.asked.get(m.id)?.(m.stats);
          this.asked.delete(m.id);
        }
      });
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    worker.removeAllListeners('exit');
    worker.on('error', (err) => this.opts.log.error({ err }, 'built-in DNS thread failed'));
    worker.unref();
    this.timer = setInterval(() => void this.refresh().catch((err: unknown) => this.opts.log.warn({ err }, 'DNS refresh failed')), this.opts.refreshMs ?? 1000);
    this.timer.unref();
    this.opts.log.info({ zone: this.zone, host: this.opts.host, port: this.port, nameServers: this.opts.nameServers.map((n) => n.name) }, 'built-in DNS listening');
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.worker?.terminate();
    this.worker = undefined;
  }

  /** The answering thread's counters (queries by rcode, answer times); null when it is not running. */
  stats(): Promise<DnsStats | null> {
    const worker = this.worker;
    if (!worker) return Promise.resolve(null);
    const id = ++this.asks;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.asked.delete(id);
        resolve(null);
      }, 2000);
      this.asked.set(id, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
      this.post({ op: 'stats', id });
    });
  }

  private post(m: ToWorker): void {
    this.worker?.postMessage(m);
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
    this.post({ op: 'set', name: change.name, records: (this.byName.get(change.name) ?? []).map((r) => ({ value: r.value, ttl: r.ttl })) });
    if (serial <= this.serial) return;
    this.ahead.add(serial);
    const was = this.serial;
    while (this.ahead.delete(this.serial + 1)) this.serial++;
    if (this.serial !== was) this.post({ op: 'serial', serial: this.serial });
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
      this.post({ op: 'all', entries: [...byName].map(([name, list]) => [name, list.map((r) => ({ value: r.value, ttl: r.ttl }))]), serial: this.serial });
    } finally {
      this.replay = null;
    }
  }
}
