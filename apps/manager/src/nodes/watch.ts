import { readFileSync } from 'node:fs';
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import type { ManagerContext } from '../context.ts';
import type { NodeEndpoint } from '../hub/traffic.ts';
import { Raised } from '../thread-priority.ts';
import { startWorkerThread } from '../worker-thread.ts';
import { endpointKey, type Decided, type FromWatch, type Handover, type ToWatch, type WatchConfig } from './watch-messages.ts';

/**
 * The manager's side of the health watch thread (watch-worker.ts, OCDN_HEALTH_WATCH=thread): tells it which nodes
 * to watch and whether this replica decides, and hands its decisions to `onDecided`. A thread that fails is started
 * again a second later with what it was told; the monitor's own checks go on meanwhile.
 */
export class HealthWatch {
  private worker: Worker | undefined;
  /** What each start of the thread is told, but for its channel (handover(), made per start). */
  private readonly config: Omit<WatchConfig, 'handover'>;
  /** What the thread was told to watch: each node's endpoint key (watch-messages.ts), by id. */
  private nodes = new Map<string, { node: NodeEndpoint; key: string }>();
  private held = false;
  private stopped = false;
  private restart: NodeJS.Timeout | undefined;
  /** The thread's id once it runs (its priority is set on it). */
  tid: number | undefined;
  /** Agents' heartbeat streams the thread holds open, as it last said. */
  streams = 0;
  /** Probes asked of the thread and not answered yet: each one's resolver, by node id. */
  private readonly probing = new Map<string, (reason: string | null | undefined) => void>();
  /** Probes to ask for at the end of this turn (one message for a tick's slice): watched nodes by id, others whole. */
  private toProbe: { ids: string[]; nodes: NodeEndpoint[] } = { ids: [], nodes: [] };
  private probeTimeoutMs = 0;
  /** This (the manager's) thread, when the watch thread raised it for a decision (`raisedFrom`). */
  private readonly raised = new Raised(process.pid);
  /** The embedded database: the running thread's decisions (watch-messages.ts, Handover), taken by takeDecisions(). */
  private decisions: { port: MessagePort; waiting: Int32Array } | undefined;
  private readonly unhook: (() => void) | undefined;

  constructor(
    private readonly ctx: ManagerContext,
    private readonly onDecided: (m: Decided) => void,
  ) {
    const { env } = ctx;
    this.config = {
      intervalMs: env.OCDN_HEARTBEAT_INTERVAL_MS,
      agentCa: env.OCDN_AGENT_CA ? readFileSync(env.OCDN_AGENT_CA, 'utf8') : null,
      databaseUrl: ctx.database.kind === 'postgres' ? (ctx.database.url ?? null) : null,
      nice: env.OCDN_DNS_NICE,
      rtPriority: env.OCDN_DNS_RT_PRIORITY,
      withholdFeed: ctx.dns.server?.withholdFeed ?? null,
      withholdSockets: ctx.dns.server?.withholdSockets ?? [],
    };
    this.unhook = ctx.database.betweenOperations?.(() => this.takeDecisions());
    this.start();
  }

  /** The thread has handed a decision over that this thread has not taken yet (for tests). */
  get handedOver(): boolean {
    return this.decisions !== undefined && Atomics.load(this.decisions.waiting, 0) !== 0;
  }

  /** The decisions the thread has handed over and the port's messages have not delivered yet, if any: now. */
  private takeDecisions(): void {
    const d = this.decisions;
    if (!d || Atomics.load(d.waiting, 0) === 0) return;
    Atomics.store(d.waiting, 0, 0); // before reading: one posted from now on raises it again
    this.receiveDecisions(d.port);
  }

  private receiveDecisions(port: MessagePort): void {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) this.onDecided(m.message as Decided);
  }

  /**
   * The nodes to watch (every `normal` one; none while another replica decides). The thread is told what changed
   * since the last list, if anything.
   */
  watch(nodes: NodeEndpoint[]): void {
    const next = new Map<string, { node: NodeEndpoint; key: string }>();
    const set: NodeEndpoint[] = [];
    for (const node of nodes) {
      const key = endpointKey(node);
      next.set(node.id, { node, key });
      if (this.nodes.get(node.id)?.key !== key) set.push(node);
    }
    const drop = [...this.nodes.keys()].filter((id) => !next.has(id));
    this.nodes = next;
    if (set.length > 0 || drop.length > 0) this.send({ op: 'change', set, drop });
  }

  /**
   * A heartbeat probe of the node by the thread, over the agent's HTTP API (watch-probe.ts): null when the agent
   * answered as the node, else why not; undefined when the thread could not make it (it is not running, or it ended
   * meanwhile) and the caller should probe itself. A node the thread watches is named by its id; any other (a faulty
   * node, probed until it recovers) goes with its endpoint.
   */
  probe(node: NodeEndpoint, timeoutMs: number): Promise<string | null | undefined> | undefined {
    if (!this.worker || this.probing.has(node.id)) return undefined;
    if (this.toProbe.ids.length === 0 && this.toProbe.nodes.length === 0) queueMicrotask(() => this.askProbes());
    if (this.nodes.get(node.id)?.key === endpointKey(node)) this.toProbe.ids.push(node.id);
    else this.toProbe.nodes.push(node);
    this.probeTimeoutMs = timeoutMs;
    return new Promise((resolve) => this.probing.set(node.id, resolve));
  }

  private askProbes(): void {
    const { ids, nodes } = this.toProbe;
    this.toProbe = { ids: [], nodes: [] };
    if (this.worker) this.send({ op: 'probe', ids, nodes, timeoutMs: this.probeTimeoutMs });
    else for (const id of [...ids, ...nodes.map((n) => n.id)]) this.probed(id, undefined); // it ended this turn
  }

  private probed(id: string, reason: string | null | undefined): void {
    const resolve = this.probing.get(id);
    this.probing.delete(id);
    resolve?.(reason);
  }

  lead(held: boolean): void {
    if (held === this.held) return;
    this.held = held;
    this.send({ op: 'lead', held });
  }

  /**
   * The watch thread raised this thread's priority for a decision (from nice value `before`): put back once `written`
   * settles (the decision is in the database), or after two seconds at most.
   */
  lowerAfter(written: Promise<unknown>, before: number): void {
    this.raised.lowerAfter(written, before);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unhook?.();
    clearTimeout(this.restart);
    for (const id of [...this.probing.keys()]) this.probed(id, undefined);
    await this.worker?.terminate();
  }

  private send(m: ToWatch): void {
    this.worker?.postMessage(m);
  }

  private start(): void {
    const handover = this.handover();
    const worker = startWorkerThread(import.meta.url, 'watch-worker', 'watch-worker', { ...this.config, handover } satisfies WatchConfig, handover ? [handover.port] : []);
    this.worker = worker;
    worker.unref();
    const { log } = this.ctx;
    worker.on('message', (m: FromWatch) => {
      if (m.op === 'decided') this.onDecided(m);
      else if (m.op === 'probed') {
        for (const id of m.ok) this.probed(id, null);
        for (const [id, reason] of m.failed) this.probed(id, reason);
        for (const id of m.unknown) this.probed(id, undefined);
      }
      else if (m.op === 'streams') this.streams = m.open;
      else if (m.op === 'log') log[m.level](m.fields, m.msg);
      else if (m.op === 'ready') {
        this.tid = m.tid;
        const { nice, rt } = m.priority;
        if (nice && 'refused' in nice) log.warn({ nice: this.config.nice, reason: nice.refused }, 'the health watch thread runs at normal priority (OCDN_DNS_NICE below 0 needs CAP_SYS_NICE)');
        if (rt && 'refused' in rt) log.warn({ rtPriority: this.config.rtPriority, reason: rt.refused }, 'the health watch thread runs without real-time priority (OCDN_DNS_RT_PRIORITY needs CAP_SYS_NICE and chrt)');
      }
    });
    worker.on('error', (err) => log.error({ err }, 'the health watch thread failed'));
    worker.once('exit', (code) => {
      this.closeDecisions();
      if (this.stopped || this.worker !== worker) return;
      this.worker = undefined;
      this.tid = undefined;
      this.streams = 0;
      // Its probes will not be answered: their callers probe themselves.
      for (const id of [...this.probing.keys()]) this.probed(id, undefined);
      log.error({ code }, 'the health watch thread ended; starting it again in a second');
      this.restart = setTimeout(() => this.start(), 1_000); // told again what it was told
    });
    this.send({ op: 'lead', held: this.held });
    this.send({ op: 'nodes', nodes: [...this.nodes.values()].map((n) => n.node) });
  }

  /** On the embedded database, a new channel for a thread's decisions: the thread's end of it (null elsewhere). */
  private handover(): Handover | null {
    if (!this.unhook) return null;
    const { port1, port2 } = new MessageChannel();
    const waiting = new SharedArrayBuffer(4);
    this.decisions = { port: port1, waiting: new Int32Array(waiting) };
    port1.on('message', (m: Decided) => this.onDecided(m));
    port1.unref();
    return { port: port2, waiting };
  }

  /** The thread ended: what it handed over is taken, and its channel closed. */
  private closeDecisions(): void {
    const d = this.decisions;
    if (!d) return;
    this.decisions = undefined;
    if (!this.stopped) this.receiveDecisions(d.port);
    d.port.close();
  }
}
