// Simulated agents for bench/hub: opens one WebSocket per node token read from stdin (one per line), says hello,
// heartbeats at the interval the manager asks for, answers node.heartbeat. Prints one JSON line when all are welcomed.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, splitNodeToken } from '@ocdn/protocol';

const managerUrl = process.argv[2]!;
const concurrency = Number(process.argv[3] ?? 200);
const tokens: string[] = [];
for await (const line of createInterface({ input: process.stdin })) if (line.trim()) tokens.push(line.trim());

const wsUrl = managerUrl.replace(/^http/, 'ws') + '/api/v1/agent/ws';
let welcomed = 0;
let failed = 0;
const started = performance.now();
const sockets: WebSocket[] = [];

function open(token: string): Promise<void> {
  const nodeId = splitNodeToken(token)!.nodeId;
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    sockets.push(ws);
    let beat: NodeJS.Timeout | undefined;
    let seq = 0;
    const t0 = Date.now();
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'sim', roles: ['cdn'], configs: [] })));
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (f.type === 'welcome') {
        welcomed++;
        beat = setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', seq: seq++, uptimeSeconds: (Date.now() - t0) / 1000 })), f.heartbeatIntervalMs);
        resolve();
      } else if (f.type === 'request') {
        ws.send(JSON.stringify({ type: 'response', id: f.id, ok: true, result: { nodeId, agentVersion: 'sim', protocolVersion: PROTOCOL_VERSION, uptimeSeconds: 1, roles: ['cdn'] } }));
      }
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      clearInterval(beat);
      if (ws.readyState !== WebSocket.OPEN) {
        failed++;
        resolve();
      }
    });
  });
}

let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < tokens.length) await open(tokens[next++]!);
  }),
);
process.stdout.write(JSON.stringify({ welcomed, failed, connectMs: performance.now() - started }) + '\n');
process.on('SIGTERM', () => {
  for (const s of sockets) s.terminate();
  process.exit(0);
});
