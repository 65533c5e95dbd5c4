// The health watch: a thread of the manager's that holds a heartbeat stream open to every normal node's agent
// (`GET /heartbeat/watch`) and decides, the moment one closes and nothing answers on the agent's port any more, that
// the node is faulty. On PostgreSQL it writes the decision (status `fault`, a FAULT_NODE run) on a connection of its
// own and hands the run to the manager to execute; on the embedded database, which lives on the manager's thread, it
// hands the decision over. Either way it first tells the built-in DNS's answering thread to leave the node's address
// out of its answers (dns/wire.ts, withhold()): the decision's write may wait behind pipeline work, the answers not.
//
// Why a thread: on the manager's thread a dead agent's socket closing waited behind pipeline work — during a
// 1,000-domain rollout the decision came 120-270 ms after the kill, against 10-20 ms at rest. This thread does
// nothing else, at the DNS answerer's priority, so it is on a core at once.
import net from 'node:net';
import tls from 'node:tls';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { NodeEndpoint } from '../hub/traffic.ts';
import { currentThreadId, raiseThreadNice, raiseThreadPriority } from '../thread-priority.ts';
import { agentPortState } from './port-probe.ts';
import { agentTls, hostOf, probeHeartbeat } from './watch-probe.ts';
import { endpointKey, type Decided, type FromWatch, type ToWatch, type WatchConfig } from './watch-messages.ts';
import { FeedWriter } from '../dns/feed.ts';
import { WithholdLinks } from '../dns/withhold-link.ts';
import type { Withhold } from '../dns/messages.ts';

if (isMainThread || !parentPort) {
  process.stderr.write('watch-worker: started outside the manager; it is a thread of the manager\n');
  process.exit(2);
}
const config = workerData as WatchConfig;
const port = parentPort;
const send = (m: FromWatch) => port.postMessage(m);
const logAt =
  (level: 'debug' | 'info' | 'warn' | 'error') =>
  (fields: Record<string, unknown>, msg: string): void => {
    const plain: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) plain[k] = v instanceof Error ? v.message : v;
    send({ op: 'log', level, msg, fields: plain });
  };
const log = { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') };

/** Whether this replica runs the health monitor (the manager says so at every tick). */
let lead = false;
/**
 * The period the agents' streams beat at. What counts is the connection, not the beats (a host that vanishes without
 * closing it is the monitor's silence check): a line every 30 s keeps middleboxes from dropping it as idle, and costs
 * an idle agent nothing it would notice.
 */
const everyMs = 30_000;
/** How long a connect to a closed stream's agent may take before it proves nothing (as the monitor's own probe). */
const probeMs = Math.max(100, Math.min(500, Math.floor(config.intervalMs / 2)));

/** PostgreSQL: the decisions are written here (watch-writer.ts, loaded only then). */
const writer = config.databaseUrl
  ? ((await import(new URL(import.meta.url.endsWith('.ts') ? './watch-writer.ts' : './watch-writer.js', import.meta.url).href)) as typeof import('./watch-writer.ts')).startWatchWriter(
      config.databaseUrl,
      send,
      log,
      () => lead,
    )
  : null;

/** The embedded database: where decisions go (watch-messages.ts, Handover). */
const handover = config.handover && { port: config.handover.port, waiting: new Int32Array(config.handover.waiting) };

/** The built-in DNS's answering thread, told of a dead node's address directly (dns/worker.ts), if it is a thread. */
const withholds = config.withholdFeed ? new FeedWriter(config.withholdFeed) : config.withholdSockets.length > 0 ? new WithholdLinks(config.withholdSockets) : null;

interface Watch {
  node: NodeEndpoint;
  /** The stream is open (its response came): its socket closing is evidence. */
  open: boolean;
  sock?: net.Socket | undefined;
  retry?: NodeJS.Timeout | undefined;
  failures: number;
  /**
   * Connects to the agent's port that succeeded right after its stream closed: the port may still have been
   * accepting while the dead process's sockets were being closed. The stream is opened again, and should that fail
   * too, the port is asked again (a few times at most).
   */
  rechecks: number;
  /** No longer watched (the node left the list, or this thread decided it). */
  done: boolean;
}

const watches = new Map<string, Watch>();
/** Streams open now, and the count the manager was last told (`ocdn_health_watch_streams`). */
let openStreams = 0;
let toldStreams = 0;
let tellStreams: NodeJS.Timeout | undefined;

function streamsChanged(by: number): void {
  openStreams += by;
  // A fleet's streams open and close in bursts: the manager hears the count once the burst is over.
  tellStreams ??= setTimeout(() => {
    tellStreams = undefined;
    if (openStreams !== toldStreams) send({ op: 'streams', open: (toldStreams = openStreams) });
  }, 100);
}
/**
 * Opens the agent's heartbeat stream on a socket of its own, never pooled or reused: the request is written by hand
 * and only the status line is read; the beats after it are not parsed (what counts is the connection). An
 * http.ClientRequest and its response cost ~24 KiB a stream, a bare socket ~10 KiB: 5,000 streams took the manager
 * from ~530 to ~800 MiB before.
 */
function watch(w: Watch): void {
  if (w.done) return;
  const n = w.node;
  const sock = n.tls
    ? tls.connect({ host: n.ip, port: n.agentPort, ...agentTls(n.ip, config.agentCa) })
    : net.connect({ host: n.ip, port: n.agentPort });
  w.sock = sock;
  // No answer in time (an agent that accepts but does not serve the stream): tried again later.
  const timer = setTimeout(() => sock.destroy(new Error('no answer')), Math.max(2_000, 2 * config.intervalMs));
  sock.once(n.tls ? 'secureConnect' : 'connect', () => {
    sock.setNoDelay(true);
    sock.write(`GET /heartbeat/watch?everyMs=${everyMs} HTTP/1.1\r\nHost: ${hostOf(n.ip)}:${n.agentPort}\r\nAuthorization: Bearer ${n.token}\r\n\r\n`);
  });
  let head = '';
  sock.on('data', (chunk: Buffer) => {
    if (w.open) return; // the beats
    head += chunk.toString('latin1');
    const line = head.indexOf('\r\n');
    if (line < 0) {
      if (head.length > 1024) sock.destroy(); // not HTTP
      return;
    }
    clearTimeout(timer);
    const status = /^HTTP\/1\.[01] (\d{3}) /.exec(head.slice(0, line + 1))?.[1];
    head = '';
    if (status !== '200') {
      // 404: an agent from before the stream; it is watched over its link alone. Anything else: tried again later.
      if (status === '404') w.failures = 8;
      sock.destroy();
      return;
    }
    w.open = true;
    streamsChanged(1);
    w.failures = 0;
    w.rechecks = 0;
    log.debug({ nodeId: n.id }, "watching the agent's heartbeat stream");
  });
  sock.on('error', () => {}); // the close below says what happened
  sock.once('close', () => {
    clearTimeout(timer);
    if (w.sock !== sock) return;
    w.sock = undefined;
    const wasOpen = w.open;
    w.open = false;
    if (wasOpen) streamsChanged(-1);
    if (w.done) return;
    if (wasOpen || (w.rechecks > 0 && w.rechecks <= 3)) void streamClosed(w);
    else later(w);
  });
}

/** Watches again after a backoff: 1 s doubling to a minute (5 minutes for an agent without the stream). */
function later(w: Watch, ms = Math.min(w.failures >= 8 ? 300_000 : 60_000, 1_000 * 2 ** w.failures)): void {
  w.failures++;
  clearTimeout(w.retry);
  w.retry = setTimeout(() => watch(w), ms * (0.8 + Math.random() * 0.4));
}

/** The agent's stream closed: one connect to its port; refused, the agent's process is gone. */
async function streamClosed(w: Watch): Promise<void> {
  log.debug({ nodeId: w.node.id, lead }, "the agent's heartbeat stream closed");
  if (!lead) return later(w, 1_000);
  const state = await agentPortState(w.node, probeMs);
  if (w.done) return;
  if (state === 'open') {
    // The agent restarted, or the stream alone broke; or the dead process's port was not closed yet.
    w.rechecks++;
    return watch(w);
  }
  if (state === 'timeout') {
    // No answer at all (the host is down, or this machine is too busy to tell): the monitor's checks decide.
    log.info({ nodeId: w.node.id }, "agent's heartbeat stream closed and a connect to its port timed out; the next checks decide");
    return later(w, 1_000);
  }
  const reason = `nothing answers a connection to its port (${state})`;
  w.done = true;
  // Out of the built-in DNS's answers now, before the decision is written or FAULT_NODE deletes its records.
  withholds?.write({ op: 'withhold', ip: w.node.ip } satisfies Withhold);
  if (writer) writer.decide({ id: w.node.id, ip: w.node.ip }, reason);
  else handOver({ op: 'decided', nodeId: w.node.id, reason, run: null, raisedFrom: boostManager() });
}

/** A decision for the manager to write (the embedded database): on its port, then the counter raised (Handover). */
function handOver(m: Decided): void {
  if (!handover) return send(m);
  handover.port.postMessage(m);
  Atomics.add(handover.waiting, 0, 1);
}

/**
 * The embedded database lives on the manager's thread, so the decision is written there, and on a busy machine that
 * thread waits for a core as long as it computes (during a 1,000 x 50 rollout it spent a third of its time waiting on
 * the run queue, and a decision waited up to 850 ms). For the write it runs at this thread's nice value; the manager
 * puts its own back once the decision is written (watch.ts). Only the manager's thread: the process's other threads,
 * and the rest of the machine, keep theirs. When it runs raised now, the nice value it had before (null when the nice
 * value is `off`, or without CAP_SYS_NICE).
 */
function boostManager(): number | null {
  return config.nice === null ? null : raiseThreadNice(process.pid, config.nice); // the manager's thread is named by the pid
}

function setNodes(list: NodeEndpoint[]): void {
  const listed = new Set<string>();
  for (const n of list) {
    listed.add(n.id);
    setNode(n);
  }
  for (const id of watches.keys()) if (!listed.has(id)) dropNode(id);
}

/** Watches `n` (again, should its endpoint have changed). */
function setNode(n: NodeEndpoint): void {
  const w = watches.get(n.id);
  if (w && endpointKey(w.node) === endpointKey(n)) return;
  if (w) stop(w);
  const fresh: Watch = { node: n, open: false, failures: 0, rechecks: 0, done: false };
  watches.set(n.id, fresh);
  // Spread over a second: a fleet's thousands of connects do not all land in one turn.
  fresh.retry = setTimeout(() => watch(fresh), w ? 0 : Math.random() * 1_000);
}

function dropNode(id: string): void {
  const w = watches.get(id);
  if (!w) return;
  stop(w);
  watches.delete(id);
}

function stop(w: Watch): void {
  w.done = true;
  clearTimeout(w.retry);
  w.sock?.destroy();
}

/** Heartbeat probes in flight at once (as many as the monitor's own limiter allows), and those waiting. */
const PROBES_AT_ONCE = 64;
let probing = 0;
let waiting: { node: NodeEndpoint; timeoutMs: number }[] = [];
let nextWaiting = 0;
let probed: Extract<FromWatch, { op: 'probed' }> | null = null;

function probe(ids: string[], nodes: NodeEndpoint[], timeoutMs: number): void {
  for (const id of ids) {
    const w = watches.get(id);
    if (w) waiting.push({ node: w.node, timeoutMs });
    else answered(id, undefined);
  }
  for (const node of nodes) waiting.push({ node, timeoutMs });
  startProbes();
}

function startProbes(): void {
  while (probing < PROBES_AT_ONCE && nextWaiting < waiting.length) {
    const { node, timeoutMs } = waiting[nextWaiting++]!;
    probing++;
    void probeHeartbeat(node, timeoutMs, config.agentCa).then((reason) => {
      probing--;
      answered(node.id, reason);
      startProbes();
    });
  }
  if (nextWaiting === waiting.length) {
    waiting = [];
    nextWaiting = 0;
  }
}

/** A probe's outcome (undefined: the node is not watched here), told to the manager with others done meanwhile. */
function answered(id: string, reason: string | null | undefined): void {
  if (!probed) {
    probed = { op: 'probed', ok: [], failed: [], unknown: [] };
    setTimeout(() => {
      send(probed!);
      probed = null;
    }, 20);
  }
  if (reason === undefined) probed.unknown.push(id);
  else if (reason === null) probed.ok.push(id);
  else probed.failed.push([id, reason]);
}

port.on('message', (m: ToWatch) => {
  if (m.op === 'nodes') setNodes(m.nodes);
  else if (m.op === 'change') {
    m.set.forEach(setNode);
    m.drop.forEach(dropNode);
  } else if (m.op === 'probe') {
    probe(m.ids, m.nodes, m.timeoutMs);
  } else if (m.op === 'lead') {
    if (m.held && !lead) writer?.warm(); // the connection ready before it is needed
    lead = m.held;
  }
});

const tid = currentThreadId();
send({ op: 'ready', tid, priority: raiseThreadPriority(tid, config.nice, config.rtPriority) });
