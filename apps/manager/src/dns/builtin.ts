import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import type { DnsRecord, DnsRecordStore, RecordChange } from './records.ts';
import type { NameServer } from './wire.ts';
import { startAnswerer, type Answerer, type DnsIsolation } from './answerer.ts';
import { feedBuffer } from './feed.ts';
import { MAX_SOCKET_PATH } from './withhold-link.ts';
import { type DnsStats, type FromWorker, type ToWorker, type WorkerConfig } from './messages.ts';

const NAMES_PER_MESSAGE = 16;

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
  /** The nice value of the answering thread (OCDN_DNS_NICE); undefined or null leaves it alone. */
  nice?: number | null;
  /** The SCHED_RR priority of the answering thread (OCDN_DNS_RT_PRIORITY); undefined or null: the normal scheduler. */
  rtPriority?: number | null;
  /** Where answers are given (OCDN_DNS_ISOLATION): a thread (default) or a process of its own. */
  isolation?: DnsIsolation;
  /** Processes answering on the same port (OCDN_DNS_ANSWERERS; more than one needs `process` isolation). */
  answerers?: number;
  store: DnsRecordStore;
  log: Logger;
  /** How often the record serial is checked for changes made by other replicas. */
  refreshMs?: number;
}

/**
 * The built-in authoritative DNS for the CDN zone, over UDP and TCP: A records of published nodes (several per
 * name), SOA and NS at the apex, NXDOMAIN for other names in the zone and REFUSED outside it (dns/wire.ts).
 * Answers are given by a thread or a process of their own (dns/worker.ts) from encoded records in its memory: this replica's own
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
  private child: Answerer | undefined;
  private stopping = false;
  /** Names changed since the answerer was last told (see changed()). */
  private readonly unsent = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly zone: string;
  private readonly asked = new Map<number, (s: DnsStats) => void>();
  private asks = 0;
  /** A serial past ours seen while this replica was writing records, and the store's commits reported then. */
  private suspect: { seen: number; commits: number } | null = null;
  /** Times the records were read again from the database (ocdn_dns_reloads_total). */
  reloads = 0;
  port = 0;

  /** The answering thread's id (a process: its pid), once it listens. */
  tid: number | undefined;
  /** The (first) answering process's id, while it runs (undefined for a thread). */
  get pid(): number | undefined {
    return this.pids[0];
  }

  /** Every answering process's id (OCDN_DNS_ANSWERERS), while they run; none for a thread. */
  get pids(): number[] {
    return this.child?.pids ?? [];
  }

  /**
   * Addresses to withhold from answers, written by the health watch thread straight to the answering thread (a
   * thread's; processes have withholdSockets). The same ring for an answering thread started again.
   */
  readonly withholdFeed: SharedArrayBuffer | null;

  /**
   * The same for processes: each one's Unix socket, which the health watch thread connects to (withhold-link.ts),
   * in a directory of this manager's own; empty for a thread, or where the paths would be too long.
   */
  withholdSockets: string[] = [];
  private withholdDir: string | undefined;
  /** Processes answering on the port (OCDN_DNS_ANSWERERS). */
  private readonly answerers: number;

  constructor(private readonly opts: BuiltinDnsOptions) {
    this.zone = opts.zone.toLowerCase().replace(/\.$/, '');
    this.withholdFeed = this.kind === 'thread' ? feedBuffer(64 * 1024) : null;
    this.answerers = opts.answerers ?? 1;
  }

  /** The processes' withhold sockets (withholdSockets), in a directory made for them: mode 0700, only this user connects. */
  private makeWithholdSockets(): void {
    const dir = mkdtempSync(join(tmpdir(), 'ocdn-dns-'));
    this.withholdDir = dir;
    const paths = Array.from({ length: this.answerers }, (_, i) => join(dir, `withhold-${i}.sock`));
    if (paths.every((p) => Buffer.byteLength(p) <= MAX_SOCKET_PATH)) this.withholdSockets = paths;
    else this.opts.log.warn({ dir }, "the DNS processes' withhold sockets would have too long a path (set TMPDIR shorter): a dead node's address leaves the answers only once the manager's thread gets to it");
  }

  private removeWithholdSockets(): void {
    if (this.withholdDir) rmSync(this.withholdDir, { recursive: true, force: true });
    this.withholdDir = undefined;
  }

  /**
   * Leaves `ip` out of the answers until it is published again (ZoneAnswers.withhold): its node was decided faulty,
   * and its records go in its FAULT_NODE run. Not behind the record changes this replica has in line.
   */
  withhold(ip: string): void {
    this.post({ op: 'withhold', ip });
  }

  /** Answers give `ip` again where it is published: its node recovered (a name may have kept it, failing open). */
  release(ip: string): void {
    this.post({ op: 'release', ip });
  }

  async start(): Promise<void> {
    await this.reload();
    if (this.kind === 'process') this.makeWithholdSockets();
    try {
      this.port = await this.spawn(this.opts.port);
    } catch (err) {
      this.removeWithholdSockets(); // nobody calls stop() for a start that failed
      throw err;
    }
    this.timer = setInterval(() => void this.refresh().catch((err: unknown) => this.opts.log.warn({ err }, 'DNS refresh failed')), this.opts.refreshMs ?? 1000);
    this.timer.unref();
    this.opts.log.info({ zone: this.zone, host: this.opts.host, port: this.port, isolation: this.kind, answerers: this.answerers, tid: this.tid, nameServers: this.opts.nameServers.map((n) => n.name) }, 'built-in DNS listening');
    if (this.answerers > 1 && this.opts.rtPriority != null && this.answerers >= availableParallelism()) {
      this.opts.log.warn({ answerers: this.answerers, cores: availableParallelism() }, 'OCDN_DNS_ANSWERERS is not below the number of cores and each answers at real-time priority: a query flood can hold every core and leave the manager ~5 % of each');
    }
  }

  /** Starts the answerer (a process or a thread: answerer.ts) with every record, and resolves with its port once it listens. */
  private async spawn(port: number): Promise<number> {
    const config: WorkerConfig = { zone: this.zone, ttl: this.opts.ttl, nameServers: this.opts.nameServers, maxAnswers: this.opts.maxAnswers, host: this.opts.host, port, nice: this.opts.nice ?? null, rtPriority: this.opts.rtPriority ?? null, ...(this.withholdFeed ? { withholdFeed: this.withholdFeed } : {}) };
    const child = startAnswerer(this.opts.isolation ?? 'thread', config, this.answerers, this.withholdSockets);
    this.child = child;
    this.post({ op: 'all', entries: [...this.byName].map(([name, list]) => [name, list.map((r) => ({ value: r.value, ttl: r.ttl }))]), serial: this.serial });
    let onExit = (how: string) => this.exited(child, how);
    child.onExit((how) => onExit(how));
    const listening = await new Promise<number>((resolve, reject) => {
      onExit = (how) => reject(new Error(`the built-in DNS ${this.kind} ended (${how}) before listening`));
      child.onMessage((m: FromWorker) => {
        if (m.op === 'listening') {
          const { nice, rt } = m.priority;
          if (nice && 'refused' in nice) {
            this.opts.log.warn({ nice: config.nice, reason: nice.refused }, `the DNS ${this.kind} runs at normal priority (OCDN_DNS_NICE below 0 needs CAP_SYS_NICE): answers may wait behind pipeline work on a busy machine`);
          }
          if (rt && 'refused' in rt) {
            this.opts.log.warn({ rtPriority: config.rtPriority, reason: rt.refused }, `the DNS ${this.kind} runs without real-time priority (OCDN_DNS_RT_PRIORITY needs CAP_SYS_NICE and chrt from util-linux): answers may wait a few ms behind other work on a busy machine`);
          }
          this.tid = m.tid;
          resolve(m.port);
        } else if (m.op === 'failed') reject(new Error(m.message));
        else if (m.op === 'stats') {
          this.asked.get(m.id)?.(m.stats);
          this.asked.delete(m.id);
        }
      });
    }).catch(async (err: unknown) => {
      onExit = () => {};
      await child.stop();
      throw err;
    });
    onExit = (how) => this.exited(child, how);
    child.unref();
    return listening;
  }

  private get kind(): string {
    return this.opts.isolation === 'process' ? 'process' : 'thread';
  }

  /** The answerer ended without being asked to: it is started again on the same port, with every record. */
  private exited(child: Answerer, how: string): void {
    if (this.stopping || this.child !== child) return;
    this.child = undefined;
    this.tid = undefined;
    this.opts.log.error({ how }, `the built-in DNS ${this.kind} ended; starting it again`);
    const again = () => {
      if (this.stopping) return;
      this.spawn(this.port).then(
        () => this.opts.log.info({ port: this.port }, 'built-in DNS listening again'),
        (err: unknown) => {
          this.opts.log.error({ err }, `the built-in DNS ${this.kind} could not start again; retrying`);
          setTimeout(again, 5_000).unref();
        },
      );
    };
    setTimeout(again, 1_000).unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    const child = this.child;
    this.child = undefined;
    await child?.stop();
    this.removeWithholdSockets();
  }

  /** The answerer's counters (queries by rcode, answer times); null when it is not running. */
  stats(): Promise<DnsStats | null> {
    if (!this.child?.alive) return Promise.resolve(null);
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
    // A process that is gone is started again with every record (exited), so a change sent nowhere is not lost.
    this.child?.send(m);
  }

  /**
   * Reloads the records if the serial moved past what this replica has (other replicas' changes; called
   * periodically). One reload runs at a time: callers during a reload share the next one.
   *
   * A serial past ours while this replica's own changes are being committed may be one of them, read from the
   * database before its commit was reported here (during a rollout that happened every few seconds, and each reload
   * read every record and sent them all to the answerer). Commits are reported one at a time, in order, so
   * once one more has been, every change of this replica that the serial could stand for has been applied: if the
   * serial is still not reached, it is reloaded for. With nothing of its own being written, a serial past ours is
   * another replica's change, reloaded for at once.
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
      const seen = await this.opts.store.serial();
      if (seen <= this.serial) {
        this.suspect = null; // what the database has, this replica has (its serial moves only over an unbroken run)
        return;
      }
      const { writing, commits } = this.opts.store;
      const s = this.suspect;
      const unexplained = s !== null && this.serial < s.seen && commits > s.commits;
      if (writing && !unexplained) {
        if (s === null || this.serial >= s.seen) this.suspect = { seen, commits };
        return;
      }
      this.suspect = null;
      await this.reload();
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
    this.changed(change.name);
    if (serial <= this.serial) return;
    this.ahead.add(serial);
    while (this.ahead.delete(this.serial + 1)) this.serial++; // told with the records, after them (changed())
  }

  /**
   * Sends the records of changed names to the answerer once the changes committed together have all been
   * applied (a microtask later: before whoever awaited the change goes on): a rollout changes hundreds of names at a
   * time, and one message for all of them costs that process a fraction of what a message each did.
   */
  private changed(name: string): void {
    const scheduled = this.unsent.size > 0;
    this.unsent.add(name);
    if (scheduled) return;
    queueMicrotask(() => {
      const names = [...this.unsent];
      this.unsent.clear();
      // In messages of a few names each: the process reads a message whole before it answers again.
      for (let i = 0; i < names.length; i += NAMES_PER_MESSAGE) {
        const slice = names.slice(i, i + NAMES_PER_MESSAGE);
        this.post({ op: 'set', entries: slice.map((n) => [n, (this.byName.get(n) ?? []).map((r) => ({ value: r.value, ttl: r.ttl }))]) });
      }
      // The serial after the records it stands for: a resolver never sees a new serial with old answers.
      this.post({ op: 'serial', serial: this.serial });
    });
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
      const before = this.byName;
      this.byName = byName;
      this.reloads++;
      this.serial = serial;
      for (const s of this.ahead) if (s <= serial) this.ahead.delete(s);
      while (this.ahead.delete(this.serial + 1)) this.serial++;
      // The answerer is told only what changed, through changed(): a message of every record is read whole
      // before the next query is answered (a rollout's 1,000 names held answers for up to 0.3 s).
      for (const [name, list] of byName) if (!sameRecords(before.get(name), list)) this.changed(name);
      for (const name of before.keys()) if (!byName.has(name)) this.changed(name);
      if (this.unsent.size === 0) this.post({ op: 'serial', serial: this.serial });
    } finally {
      this.replay = null;
    }
  }
}

/** The same addresses with the same TTLs, in any order. */
function sameRecords(a: DnsRecord[] | undefined, b: DnsRecord[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  const ttlOf = new Map(a.map((r) => [r.value, r.ttl]));
  return b.every((r) => ttlOf.get(r.value) === r.ttl);
}
