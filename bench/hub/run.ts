// bench/hub: N simulated agents (a separate process) connect to one manager, hello and heartbeat at 1 s.
// Reports connect time, the manager's CPU % and RSS at steady state; then fault-detection time over real agent kills.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { ROOT, freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle } from '../../test/support/procs.ts';
import { waitFor } from '../../test/support/wait.ts';
import { cpuPercent, percentile, row, rssMiB } from '../lib.ts';

const sizes = (process.env.BENCH_HUB_N ?? '1000,5000').split(',').map(Number);
const kills = Number(process.env.BENCH_HUB_KILLS ?? 20);

async function registerMany(m: ManagerHandle, n: number): Promise<string[]> {
  const tokens: string[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) {
        const i = next++;
        const ip = `127.${10 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
        const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: `sim-${i}`, ip, roles: ['cdn'], agentPort: 9 }) });
        tokens[i] = r.token;
      }
    }),
  );
  return tokens;
}

async function hubRun(n: number): Promise<string[]> {
  const dir = tempDir('bench-hub');
  const m = await startManagerProcess({ OCDN_DATA_DIR: dir.path, OCDN_LOG_LEVEL: 'warn' });
  try {
    const pid = m.proc.child.pid!;
    const t0 = performance.now();
    const tokens = await registerMany(m, n);
    const registerS = (performance.now() - t0) / 1000;
    const sim = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/hub/sim.ts'), m.url, '500'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    sim.stdin.end(tokens.join('\n'));
    const line = await new Promise<string>((resolve) => createInterface({ input: sim.stdout }).once('line', resolve));
    const { welcomed, failed, connectMs } = JSON.parse(line) as { welcomed: number; failed: number; connectMs: number };
    const tNormal = performance.now();
    await waitFor(
      'every node normal',
      async () => {
        const { items } = await m.json('/api/v1/nodes');
        return items.every((x: { status: string }) => x.status === 'normal');
      },
      { timeoutMs: 300_000, intervalMs: 1000 },
    );
    const normalS = (performance.now() - tNormal) / 1000;
    await new Promise((r) => setTimeout(r, 5000)); // settle: no ADD_NODE work left
    const cpu = await cpuPercent(pid, 10_000);
    const rss = rssMiB(pid);
    sim.kill('SIGTERM');
    return [row([n, `${welcomed}/${failed}`, connectMs / 1000, normalS, cpu, rss, registerS])];
  } finally {
    await m.proc.stop();
    dir.remove();
  }
}

async function faultDetection(): Promise<string[]> {
  const dir = tempDir('bench-fault');
  const m = await startManagerProcess({ OCDN_DATA_DIR: dir.path, OCDN_LOG_LEVEL: 'warn' });
  const times: number[] = [];
  try {
    const port = await freePort('127.0.0.2');
    const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: 'victim', ip: '127.0.0.2', roles: ['cdn'], agentPort: port }) });
    const status = async () => (await m.json(`/api/v1/nodes/${r.node.id}`)).status as string;
    for (let i = 0; i < kills; i++) {
      const agent = startAgentProcess(m.url, r.token, '127.0.0.2', port, { OCDN_LOG_LEVEL: 'warn' });
      await waitFor('normal', async () => (await status()) === 'normal', { timeoutMs: 30_000, intervalMs: 50 });
      // Let the kill land at a random point of the heartbeat period.
      await new Promise((res) => setTimeout(res, 1000 + Math.random() * 1000));
      const t0 = performance.now();
      await agent.kill9();
      await waitFor('fault', async () => (await status()) === 'fault', { timeoutMs: 30_000, intervalMs: 10 });
      times.push(performance.now() - t0);
      if (process.env.BENCH_VERBOSE) console.log(`kill ${i}: ${Math.round(times.at(-1)!)} ms`);
    }
  } finally {
    await m.proc.stop();
    dir.remove();
  }
  return [
    row(['kills', 'p50 ms', 'p99 ms', 'max ms']),
    row([times.length, percentile(times, 50), percentile(times, 99), Math.max(...times)]),
  ];
}

console.log('\n## bench/hub — simulated agents on one manager (embedded database, heartbeat 1 s)');
console.log(row(['agents', 'ok/failed', 'connect s', 'all normal s', 'mgr CPU %', 'mgr RSS MiB', 'register s']));
for (const n of sizes) for (const line of await hubRun(n)) console.log(line);
console.log('\n## bench/hub — fault detection: agent killed -9 → node `fault` (defaults: 1 s × 3 misses)');
for (const line of await faultDetection()) console.log(line);
