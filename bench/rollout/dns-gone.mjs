// When a killed victim's address leaves the built-in DNS's answers for its name, seen from a thread of the
// benchmark's own at a raised priority (raise.mjs): asks for the name's A records every millisecond. Says `ready`
// once an answer holds the address, then `gone` with the send time (performance.timeOrigin + now(), comparable
// across threads) of the first query whose answer holds other addresses and not it.
import dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import dnsPacket from 'dns-packet';
import { raiseThisThread } from './raise.mjs';

const { port, name, ip } = workerData;
const now = () => performance.timeOrigin + performance.now();
raiseThisThread(-15);
const sock = dgram.createSocket('udp4');
const sent = new Map();
let id = 0;
let ready = false;
let done = false;
sock.on('message', (msg) => {
  const at = sent.get(msg.readUInt16BE(0));
  if (at === undefined || done) return;
  sent.delete(msg.readUInt16BE(0));
  const addresses = (dnsPacket.decode(msg).answers ?? []).flatMap((a) => (a.type === 'A' ? [String(a.data)] : []));
  if (!ready) {
    if (addresses.includes(ip)) (ready = true), parentPort.postMessage({ op: 'ready' });
  } else if (addresses.length > 0 && !addresses.includes(ip)) {
    done = true;
    clearInterval(timer);
    sock.close();
    parentPort.postMessage({ op: 'gone', at });
  }
});
const timer = setInterval(() => {
  id = (id + 1) & 0xffff;
  for (const [k, at] of sent) if (now() - at > 1000) sent.delete(k);
  sent.set(id, now());
  sock.send(dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name }] }), port, '127.0.0.1');
}, 1);
