// The built-in DNS's answerer, a thread of the manager's or a process of its own (OCDN_DNS_ISOLATION, answerer.ts):
// it holds the UDP and TCP sockets and the encoded answers, so that answering never waits behind the manager's other
// work (pipelines, the API, the garbage collector of a busy heap). The manager (dns/builtin.ts) feeds it the records
// as they change; it reports its port once listening, and its counters when asked. A process ends when the manager
// does (the channel closes); a thread ends with it.
//
// A thread answers as fast as a process during a rollout now (bench/rollout 1,000 x 50, alternated: p99 0.78 / 1.25
// ms against 1.29 / 0.97 on PostgreSQL, 0.65 against 1.00 on the embedded database) and costs ~10 MiB instead of a
// second `node`. A thread was slower once (p99 30-76 ms) when it ran at normal priority and took a rollout's record
// changes in one piece: both are gone (the real-time class below, changes applied in slices).
import dgram from 'node:dgram';
import net from 'node:net';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { LATENCY_BUCKETS, WITHHOLD_MAX_MS, WORKER_CONFIG_ENV, type DnsStats, type FromWorker, type SocketHandoff, type ToWorker, type Withhold, type WorkerConfig } from './messages.ts';
import { ZoneAnswers } from './wire.ts';
import { currentThreadId, raiseThreadPriority } from '../thread-priority.ts';
import { FeedReader } from './feed.ts';
import { applyGcFlags } from '../gc-flags.ts';
import { listenDns } from './listen.ts';
import { listenWithholds, removeWithholdSocket } from './withhold-link.ts';

/** Started as a thread (OCDN_DNS_ISOLATION=thread) rather than a process of its own. */
const inThread = !isMainThread;
const given = (inThread ? workerData : JSON.parse(process.env[WORKER_CONFIG_ENV] ?? 'null')) as WorkerConfig | null;
// A process takes its record changes over its IPC channel, a thread from its shared-memory feed (feed.ts).
if (!given || (inThread ? !given.feed : !process.send)) {
  process.stderr.write('dns-worker: started without its configuration, record feed or IPC channel; it is run by the manager\n');
  process.exit(2);
}
const config: WorkerConfig = given;
const send = (m: FromWorker) => {
  if (inThread) parentPort!.postMessage(m);
  else if (process.connected) process.send!(m);
};
const zone = new ZoneAnswers(config);
/** The counters; `withheld` is the zone's own count, added when stats are asked for. */
const stats: Omit<DnsStats, 'withheld'> = { byRcode: {}, truncated: 0, dropped: 0, buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
if (!inThread) {
  applyGcFlags(); // a process of its own: the same flags as the manager's (a thread has them already)
  // The manager gone (stopped, crashed, killed): nobody feeds the records any more, and the port must be freed.
  process.on('disconnect', () => {
    if (config.withholdSocket) removeWithholdSocket(config.withholdSocket); // a manager killed cannot clean up
    process.exit(0);
  });
  // Ctrl-C in a terminal reaches the whole process group: the manager decides when this process ends.
  process.on('SIGINT', () => {});
}

function answer(msg: Buffer, udp: boolean): Buffer | null {
  const t0 = performance.now();
  let reply;
  try {
    reply = zone.answer(msg, udp);
  } catch {
    reply = null; // never expected; a query must not take the server down
  }
  if (!reply) {
    stats.dropped++;
    return null;
  }
  const seconds = (performance.now() - t0) / 1000;
  stats.byRcode[reply.rcode] = (stats.byRcode[reply.rcode] ?? 0) + 1;
  if (reply.truncated) stats.truncated++;
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]!) stats.buckets[i]!++;
  stats.sum += seconds;
  stats.count++;
  return reply.bytes;
}

/**
 * Record changes are applied in order, a little at a time: a rollout commits a few hundred names at once, and
 * encoding them all in one go held every query behind it for tens of milliseconds. Between slices the process
 * answers what has arrived.
 */
const pending: ToWorker[] = [];
/** Entries of the 'set' at the head of `pending` already applied. */
let applied = 0;
const SLICE_MS = 0.5;
/** How often a thread reads its record feed: a change answers at most this much later. */
const FEED_POLL_MS = 2;

function drain(): void {
  const until = performance.now() + SLICE_MS;
  while (pending.length > 0) {
    const m = pending[0]!;
    if (m.op === 'set') {
      while (applied < m.entries.length) {
        const [name, records] = m.entries[applied++]!;
        zone.set(name, records);
        if (performance.now() > until) return void setImmediate(drain);
      }
      applied = 0;
    } else if (m.op === 'all') {
      zone.setAll(m.entries);
      zone.setSerial(m.serial);
    } else if (m.op === 'serial') zone.setSerial(m.serial);
    else if (m.op === 'stats') send({ op: 'stats', id: m.id, stats: { ...stats, withheld: zone.withheldCount } });
    pending.shift();
    if (performance.now() > until && pending.length > 0) return void setImmediate(drain);
  }
}

/** When each withheld address is given back if nothing else did (WITHHOLD_MAX_MS). */
const withholding = new Map<string, NodeJS.Timeout>();

/** Applied at once, not behind the record changes in line: a dead node's address leaves the answers now. */
function withhold(m: Withhold): void {
  zone.withhold(m.ip);
  clearTimeout(withholding.get(m.ip));
  const timer = setTimeout(() => release(m.ip), WITHHOLD_MAX_MS);
  timer.unref();
  withholding.set(m.ip, timer);
}

/** Answers give `ip` again: its node recovered, or it was withheld for WITHHOLD_MAX_MS. */
function release(ip: string): void {
  clearTimeout(withholding.get(ip));
  withholding.delete(ip);
  zone.release(ip);
}

const take = (m: ToWorker) => {
  if (m.op === 'withhold') return withhold(m);
  if (m.op === 'release') return release(m.ip);
  pending.push(m);
  if (pending.length === 1) drain();
};
if (!inThread) process.on('message', (m: ToWorker | SocketHandoff) => m.op !== 'udp-socket' && m.op !== 'tcp-server' && take(m));
else {
  // Read every few milliseconds: nothing the manager's thread does wakes this one (feed.ts says why).
  const feed = new FeedReader(config.feed!);
  const withholds = config.withholdFeed ? new FeedReader(config.withholdFeed) : null;
  setInterval(() => {
    withholds?.read(withhold as (m: unknown) => void);
    feed.read(take as (m: unknown) => void);
  }, FEED_POLL_MS);
}

function serveTcp(sock: net.Socket): void {
  let buf = Buffer.alloc(0);
  sock.setTimeout(10_000, () => sock.destroy());
  sock.on('error', () => sock.destroy());
  sock.on('data', (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) break;
      const msg = buf.subarray(2, 2 + len);
      buf = buf.subarray(2 + len);
      const reply = answer(msg, false);
      if (!reply) return sock.destroy();
      const framed = Buffer.allocUnsafe(2 + reply.length);
      framed.writeUInt16BE(reply.length, 0);
      reply.copy(framed, 2);
      sock.write(framed);
    }
    if (buf.length > 65_537) sock.destroy();
  });
}

/** Answers on the sockets: its own (listenDns), or the manager's, shared with other answering processes. */
function serve(udp: dgram.Socket, tcp: net.Server): void {
  udp.on('message', (msg, rinfo) => {
    const reply = answer(msg, true);
    if (reply) udp.send(reply, rinfo.port, rinfo.address);
  });
  udp.on('error', () => {}); // a send to a vanished client; the socket stays up
  tcp.on('connection', serveTcp);
}

/**
 * The sockets the manager bound for every answering process (OCDN_DNS_ANSWERERS above 1), handed over the IPC
 * channel, each with a message of its own: their file descriptors are this process's copies, so it ending closes
 * nothing the others answer on.
 */
function sharedSockets(): Promise<number> {
  return new Promise((resolve) => {
    let udp: dgram.Socket | undefined;
    let tcp: net.Server | undefined;
    const got = (m: SocketHandoff, handle: unknown) => {
      if (m?.op === 'udp-socket') udp = handle as dgram.Socket;
      else if (m?.op === 'tcp-server') tcp = handle as net.Server;
      else return;
      if (!udp || !tcp) return;
      process.off('message', got);
      serve(udp, tcp);
      resolve(udp.address().port);
    };
    process.on('message', got);
    send({ op: 'ready' });
  });
}

async function listen(): Promise<number> {
  if (config.shared) return sharedSockets();
  const { udp, tcp, port } = await listenDns(config.host, config.port);
  serve(udp, tcp);
  return port;
}

/** The answering thread's id (this thread's, or this process's main thread's). */
const tid = currentThreadId();
// Answers wait for no pipeline work (thread-priority.ts); OCDN_DNS_NICE and OCDN_DNS_RT_PRIORITY.
const priority = raiseThreadPriority(tid, config.nice, config.rtPriority);

// A process's link from the health watch thread (withhold-link.ts); without it, withholds come over the IPC channel.
const linked = config.withholdSocket
  ? listenWithholds(config.withholdSocket, withhold).catch((err: Error) => {
      process.stderr.write(`dns-worker: no withhold socket at ${config.withholdSocket} (${err.message}); withholds come from the manager's thread\n`);
    })
  : undefined;

Promise.all([listen(), linked]).then(
  ([p]) => send({ op: 'listening', port: p, tid, priority }),
  (err: Error) => send({ op: 'failed', message: err.message }),
);
