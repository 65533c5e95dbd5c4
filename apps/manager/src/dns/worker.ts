// The built-in DNS's own thread: it holds the UDP and TCP sockets and the encoded answers, so that answering never
// waits behind the manager's other work (pipelines, the API). The main thread (dns/builtin.ts) feeds it the records
// as they change; it reports its port once listening, and its counters when asked.
import dgram from 'node:dgram';
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { LATENCY_BUCKETS, type DnsStats, type FromWorker, type ToWorker, type WorkerConfig } from './messages.ts';
import { ZoneAnswers } from './wire.ts';

const config = workerData as WorkerConfig;
const port = parentPort!;
const zone = new ZoneAnswers(config);
const stats: DnsStats = { byRcode: {}, truncated: 0, dropped: 0, buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };

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

port.on('message', (m: ToWorker) => {
  if (m.op === 'set') zone.set(m.name, m.records);
  else if (m.op === 'all') {
    zone.setAll(m.entries);
    zone.setSerial(m.serial);
  } else if (m.op === 'serial') zone.setSerial(m.serial);
  else if (m.op === 'stats') port.postMessage({ op: 'stats', id: m.id, stats } satisfies FromWorker);
});

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

/**
 * UDP and TCP on one port. Asked for any free port (0), the kernel picks one for UDP that TCP may have in use: then
 * both are given up and another is tried.
 */
async function listen(): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listenOnce();
    } catch (err) {
      if (config.port !== 0 || attempt >= 20 || !(err as Error).message.includes('EADDRINUSE')) throw err;
    }
  }
}

async function listenOnce(): Promise<number> {
  const udp = dgram.createSocket({ type: net.isIPv6(config.host) ? 'udp6' : 'udp4' });
  udp.on('message', (msg, rinfo) => {
    const reply = answer(msg, true);
    if (reply) udp.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(config.port, config.host, () => resolve());
  }).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`built-in DNS cannot listen on ${config.host}:${config.port}/udp (${err.code}); set OCDN_DNS_HOST/OCDN_DNS_PORT`);
  });
  udp.on('error', () => {}); // a send to a vanished client; the socket stays up
  try {
    // Room for bursts: the kernel caps this at net.core.rmem_max.
    udp.setRecvBufferSize(4 * 1024 * 1024);
  } catch {
    // kept at the system's default
  }
  const bound = udp.address().port;
  const tcp = net.createServer(serveTcp);
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(bound, config.host, () => resolve());
  }).catch((err: NodeJS.ErrnoException) => {
    udp.close();
    throw new Error(`built-in DNS cannot listen on ${config.host}:${bound}/tcp (${err.code}); set OCDN_DNS_HOST/OCDN_DNS_PORT`);
  });
  return bound;
}

listen().then(
  (p) => port.postMessage({ op: 'listening', port: p } satisfies FromWorker),
  (err: Error) => port.postMessage({ op: 'failed', message: err.message } satisfies FromWorker),
);
