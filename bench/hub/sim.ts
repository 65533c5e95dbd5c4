// Simulated agents for bench/hub. Reads node tokens from stdin, one per line, and opens one WebSocket per token as
// it arrives (at most `concurrency` handshakes at once): hello, heartbeat at the interval the manager asks for,
// answers node.heartbeat. Prints one JSON line when `expected` agents are welcomed.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, splitNodeToken } from '@ocdn/protocol';

const [managerUrl, expectedArg, concurrencyArg] = process.argv.slice(2);
const expected = Number(expectedArg);
const concurrency = Number(concurrencyArg ?? 200);
const wsUrl = managerUrl!.replace(/^http/, 'ws') + '/api/v1/agent/ws';

let welcomed = 0;
let failed = 0;
let inFlight = 0;
let started = 0;
const queue: string[] = [];
const sockets: WebSocket[] = [];

function report(): void {
  if (welcomed + failed === expected) {
    process.stdout.write(JSON.stringify({ welcomed, failed, connectMs: performance.now() - started }) + '\n');
  }
}

function pump(): void {
  while (inFlight < concurrency && queue.length > 0) open(queue.shift()!);
}

function open(token: string): void {
  if (!started) started = performance.now();
  inFlight++;
  const nodeId = splitNodeToken(token)!.nodeId;
  const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
  sockets.push(ws);
  let beat: NodeJS.Timeout | undefined;
  let seq = 0;
  let settled = false;
  const settle = (ok: boolean) => {
    if (settled) return;
    settled = true;
    inFlight--;
    if (ok) welcomed++;
    else failed++;
    report();
    pump();
  };
  const t0 = Date.now();
  ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'sim', roles: ['cdn'], configs: [] })));
  ws.on('message', (d) => {
    const f = JSON.parse(d.toString());
    if (f.type === 'welcome') {
      beat = setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', seq: seq++, uptimeSeconds: (Date.now() - t0) / 1000 })), f.heartbeatIntervalMs);
      settle(true);
    } else if (f.type === 'request') {
      const result = { nodeId, agentVersion: 'sim', protocolVersion: PROTOCOL_VERSION, uptimeSeconds: (Date.now() - t0) / 1000, roles: ['cdn'] };
      ws.send(JSON.stringify({ type: 'response', id: f.id, ok: true, result }));
    }
  });
  ws.on('error', () => {});
  ws.on('close', () => {
    clearInterval(beat);
    settle(false);
  });
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  queue.push(line.trim());
  pump();
});
process.on('SIGTERM', () => {
  for (const s of sockets) s.terminate();
  process.exit(0);
});
