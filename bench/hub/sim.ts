// Simulated agents for bench/hub. Reads node tokens from stdin, one per line, and opens one WebSocket per token as
// it arrives (at most `concurrency` first handshakes at once): hello, heartbeat at the interval the manager asks for,
// answers node.heartbeat, and cdn.listConf with an empty list. A socket that closes (the manager died) reconnects
// with the real agent's backoff (attempt 1 at once, then 250 ms · 2^n with jitter, capped at OCDN_RECONNECT_MAX_MS).
// Prints one JSON line each time all `expected` agents are connected: `connectMs` since the first token arrived, or
// since the first socket was lost after the previous line.
// With a `watchPort`, it serves every simulated node's heartbeat stream (`GET /heartbeat/watch`, as the real agent's
// watch.ts) and its heartbeat (`GET /heartbeat`) on that port of every loopback address: the manager's health watch
// holds one open to each node, as it does with real agents, instead of having its connects refused and retrying, and
// a node whose agent has not linked again yet answers the monitor's probe.
import http from 'node:http';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, splitNodeToken } from '@ocdn/protocol';
import { reconnectDelay } from '../../apps/agent/src/link.ts';

const [managerUrl, expectedArg, concurrencyArg, watchPortArg] = process.argv.slice(2);
const expected = Number(expectedArg);
const concurrency = Number(concurrencyArg ?? 200);
const reconnectMaxMs = Number(process.env.OCDN_RECONNECT_MAX_MS ?? 30_000);
const wsUrl = managerUrl!.replace(/^http/, 'ws') + '/api/v1/agent/ws';

let live = 0;
let attempts = 0;
let inFlight = 0;
let since = 0;
const queue: string[] = [];
const sockets = new Set<WebSocket>();
/** The node of each token read so far (the watch stream's bearer). */
const nodeOf = new Map<string, string>();

/** A simulated node's heartbeat (node.heartbeat's result, and each line of its stream), up since `since`. */
const heartbeat = (nodeId: string, since: number) => ({ nodeId, agentVersion: 'sim', protocolVersion: PROTOCOL_VERSION, uptimeSeconds: (Date.now() - since) / 1000, roles: ['cdn'] });
const started = Date.now();

if (watchPortArg) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sim');
    const nodeId = nodeOf.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    if (nodeId && url.pathname === '/heartbeat') {
      // The health monitor's probe of a node whose agent has no link (after a manager restart, until it reconnects).
      const text = JSON.stringify(heartbeat(nodeId, started));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
      return;
    }
    if (url.pathname !== '/heartbeat/watch' || !nodeId) {
      res.writeHead(nodeId ? 404 : 401).end();
      return;
    }
    const everyMs = Number(url.searchParams.get('everyMs') ?? 1000);
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    req.socket.setNoDelay(true);
    const beat = () => res.write(`${JSON.stringify(heartbeat(nodeId, started))}\n`);
    beat();
    const timer = setInterval(beat, everyMs);
    res.once('close', () => clearInterval(timer));
  });
  server.listen(Number(watchPortArg), '0.0.0.0');
}

function pump(): void {
  while (inFlight < concurrency && queue.length > 0) {
    inFlight++;
    agent(queue.shift()!, () => {
      inFlight--;
      pump();
    });
  }
}

/** One simulated agent: connects, and reconnects for as long as the process lives. */
function agent(token: string, firstSettled: () => void): void {
  if (!since) since = performance.now();
  const nodeId = splitNodeToken(token)!.nodeId;
  const t0 = Date.now();
  let attempt = 0;
  let first = true;
  const connect = () => {
    attempt++;
    attempts++;
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    sockets.add(ws);
    let beat: NodeJS.Timeout | undefined;
    let welcomed = false;
    let seq = 0;
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'sim', roles: ['cdn'], configs: [] })));
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (f.type === 'welcome') {
        welcomed = true;
        attempt = 0;
        beat = setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', seq: seq++, uptimeSeconds: (Date.now() - t0) / 1000 })), f.heartbeatIntervalMs);
        if (++live === expected) {
          process.stdout.write(JSON.stringify({ welcomed: live, attempts, connectMs: performance.now() - since }) + '\n');
          since = 0;
          attempts = 0;
        }
        if (first) {
          first = false;
          firstSettled();
        }
      } else if (f.type === 'request') {
        // A simulated node holds no configs (drift repair asks with cdn.listConf); anything else is a heartbeat.
        const result =
          f.method === 'cdn.listConf'
            ? { items: [] }
            : heartbeat(nodeId, t0);
        ws.send(JSON.stringify({ type: 'response', id: f.id, ok: true, result }));
      }
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      sockets.delete(ws);
      clearInterval(beat);
      if (welcomed) {
        if (live === expected) since = performance.now();
        live--;
      }
      setTimeout(connect, reconnectDelay(attempt + 1, 250, reconnectMaxMs));
    });
  };
  connect();
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  nodeOf.set(line.trim(), splitNodeToken(line.trim())!.nodeId);
  queue.push(line.trim());
  pump();
});
process.on('SIGTERM', () => {
  for (const s of sockets) s.terminate();
  process.exit(0);
});
