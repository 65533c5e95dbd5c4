// A resolver's view of the manager's built-in DNS, from a thread of the benchmark's own that runs at a raised
// priority (the real-time round-robin class, as the DNS process runs by default; nice -15 where that is refused): on
// this one machine the resolver shares the cores with fifty agents, and the time it waits for a core of
// its own is not the server's answer time (a real resolver is elsewhere). Asks for the zone's SOA every `everyMs`
// and keeps each answer's round trip; a query with no answer within a second counts as a second.
import dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { raiseThisThread } from './raise.mjs';

const { port, everyMs, nice } = workerData;
/** How the thread was raised ('SCHED_RR 1', 'nice -15'), or null. */
const raised = raiseThisThread(nice);
const sock = dgram.createSocket('udp4');
const sent = new Map();
const times = [];
let id = 0;
sock.on('message', (msg) => {
  const at = sent.get(msg.readUInt16BE(0));
  if (at === undefined) return;
  sent.delete(msg.readUInt16BE(0));
  times.push(performance.now() - at);
});
const question = Buffer.from([3, 99, 100, 110, 4, 111, 99, 100, 110, 4, 116, 101, 115, 116, 0, 0, 6, 0, 1]); // cdn.ocdn.test SOA
const timer = setInterval(() => {
  id = (id + 1) & 0xffff;
  const header = Buffer.from([id >> 8, id & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  sent.set(id, performance.now());
  sock.send(Buffer.concat([header, question]), port, '127.0.0.1');
  for (const [k, at] of sent) if (performance.now() - at > 1000) (sent.delete(k), times.push(1000));
}, everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  sock.close();
  parentPort.postMessage({ times, raised });
  parentPort.close();
});
