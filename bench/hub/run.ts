// bench/hub: N simulated agents (a separate process) on one manager; hello and heartbeat at 1 s.
//   setup    — nodes are registered through the API while their agents connect (as an operator rolls out a fleet)
//   restart  — kill -9 of the manager, a new one on the same database: time until all N agents (reconnecting with
//              the agent's own backoff) are connected again, nodes taken for faulty meanwhile, health ticks skipped
//   agents   — every agent process goes at once (every node faulty), a fresh one connects all N (a reconnect storm)
//   steady   — the manager's CPU % (10 s window) and RSS with N agents beating
// Run on the embedded database and, when reachable, on PostgreSQL. Then fault detection over real agent kills.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import postgres from 'postgres';
import { ROOT, freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle } from '../../test/support/procs.ts';
import { waitFor } from '../../test/support/wait.ts';
import { cpuPercent, envPairs, percentile, row, treeRssMiB } from '../lib.ts';

const sizes = (process.env.BENCH_HUB_N ?? '1000,5000').split(',').map(Number).filter((n) => n > 0); // BENCH_HUB_N=0: fault detection only
const kills = Number(process.env.BENCH_HUB_KILLS ?? 20);
/** `pglite`, `postgres` or both (default). */
const backends = (process.env.BENCH_HUB_DB ?? 'pglite,postgres').split(',') as ('pglite' | 'postgres')[];
const pgBase = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface SimLine {
  welcomed: number;
  attempts: number;
  connectMs: number;
}

/** The simulated agents; `next()` resolves with the sim's next "all connected" line. */
function startSim(m: ManagerHandle, expected: number, watchPort: number | undefined): { proc: ChildProcess; next(): Promise<SimLine> } {
  const args = [join(ROOT, 'bench/hub/sim.ts'), m.url, String(expected), '200', ...(watchPort ? [String(watchPort)] : [])];
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: SimLine[] = [];
  const waiting: ((l: SimLine) => void)[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    const line = JSON.parse(l) as SimLine;
    const w = waiting.shift();
    if (w) w(line);
    else lines.push(line);
  });
  return { proc, next: () => (lines.length ? Promise.resolve(lines.shift()!) : new Promise((r) => waiting.push(r))) };
}

/** A line on stderr as each phase ends, so that a long run shows where it is (and where it stopped). */
function progress(text: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

async function skippedTicks(m: ManagerHandle): Promise<number> {
  const text = await (await fetch(`${m.url}/metrics`)).text();
  return Number(/^ocdn_health_ticks_total\{outcome="skipped"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Heartbeat probes over the agents' HTTP APIs so far, by who made them (`ocdn_health_probes_total`). */
async function probesMade(m: ManagerHandle): Promise<string> {
  const text = await (await fetch(`${m.url}/metrics`)).text();
  const count = (via: string) => [...text.matchAll(new RegExp(`^ocdn_health_probes_total\\{via="${via}",outcome="\\w+"\\} (\\d+)`, 'gm'))].reduce((a, x) => a + Number(x[1]), 0);
  return `probes: ${count('watch')} by the watch thread, ${count('manager')} by the manager's`;
}

async function allNormal(m: ManagerHandle, n: number): Promise<boolean> {
  const items: { status: string; connected: boolean }[] = [];
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page: { items: typeof items; nextCursor: string | null } = await m.json(`/api/v1/nodes?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  }
  return items.length === n && items.every((x) => x.status === 'normal' && x.connected);
}

/** Runs of a kind, every page of them. */
async function countRuns(m: ManagerHandle, kind: string): Promise<number> {
  let n = 0;
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page: { items: unknown[]; nextCursor: string | null } = await m.json(`/api/v1/pipelines?kind=${kind}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    n += page.items.length;
    cursor = page.nextCursor;
  }
  return n;
}

async function pgDatabase(): Promise<{ url: string; drop(): Promise<void> } | null> {
  try {
    const admin = postgres(pgBase, { max: 1, onnotice: () => {}, connect_timeout: 3 });
    const name = `ocdn_bench_${Date.now()}`;
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    const url = new URL(pgBase);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      async drop() {
        const a = postgres(pgBase, { max: 1, onnotice: () => {} });
        await a.unsafe(`drop database if exists ${name} with (force)`);
        await a.end();
      },
    };
  } catch {
    return null;
  }
}

async function hubRun(n: number, backend: 'pglite' | 'postgres'): Promise<string | null> {
  const dir = tempDir('bench-hub');
  const pg = backend === 'postgres' ? await pgDatabase() : null;
  if (backend === 'postgres' && !pg) return null;
  // BENCH_MANAGER_ENV: more environment for the manager, `NAME=value` space-separated (as bench/rollout's).
  const env = { ...(pg ? { DATABASE_URL: pg.url } : { OCDN_DATA_DIR: dir.path }), OCDN_LOG_LEVEL: 'warn', ...envPairs(process.env.BENCH_MANAGER_ENV) };
  let m = await startManagerProcess(env);
  const sims: ChildProcess[] = [];
  // The simulated agents serve their heartbeat streams on this port (every loopback address), as real agents do;
  // BENCH_HUB_WATCH=0: they serve nothing, and the health watch's connects are refused (the runs before 2026-12-05).
  const watchPort = process.env.BENCH_HUB_WATCH === '0' ? undefined : await freePort('0.0.0.0');
  try {
    // setup: register through the API while agents connect
    const t0 = performance.now();
    const setupSim = startSim(m, n, watchPort);
    sims.push(setupSim.proc);
    const tokens: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < n) {
          const i = next++;
          const ip = `127.${10 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
          const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: `sim-${i}`, ip, roles: ['cdn'], agentPort: watchPort ?? 9 }) });
          tokens.push(r.token);
          setupSim.proc.stdin!.write(`${r.token}\n`);
        }
      }),
    );
    await setupSim.next();
    await waitFor('every node normal', () => allNormal(m, n), { timeoutMs: 600_000, intervalMs: 1000 });
    const setupS = (performance.now() - t0) / 1000;
    progress(`${backend} ${n}: set up in ${setupS.toFixed(1)} s`);

    // manager restart: kill -9, a new process on the same database and port; the agents reconnect with their backoff
    await new Promise((r) => setTimeout(r, 3000)); // a few steady heartbeats first
    const faultsBefore = await countRuns(m, 'FAULT_NODE');
    const killedAt = performance.now();
    await m.proc.kill9();
    // BENCH_PROFILE_DIR: the restarted manager writes a V8 CPU profile there when it stops (at the end of the run).
    // BENCH_MANAGER_ARGS: node flags for the restarted manager, space-separated (as bench/rollout's).
    const profileArgs = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    const nodeArgs = [...profileArgs, ...(process.env.BENCH_MANAGER_ARGS?.split(' ').filter(Boolean) ?? [])];
    m = await startManagerProcess({ ...env, OCDN_HTTP_PORT: String(m.port) }, { nodeArgs });
    const readyS = (performance.now() - killedAt) / 1000;
    const restart = await setupSim.next();
    const restartS = (performance.now() - killedAt) / 1000;
    await waitFor('every node normal after the restart', () => allNormal(m, n), { timeoutMs: 600_000, intervalMs: 1000 });
    const restartFaults = (await countRuns(m, 'FAULT_NODE')) - faultsBefore;
    const restartSkipped = await skippedTicks(m);
    progress(`${backend} ${n}: manager restarted, all connected in ${restartS.toFixed(1)} s (${await probesMade(m)}); every agent goes now`);

    // agents restart: every agent process goes at once (every node faulty), a fresh one connects them all
    const stormFaults0 = await countRuns(m, 'FAULT_NODE');
    const stormT0 = performance.now();
    setupSim.proc.kill('SIGTERM');
    await waitFor('manager to see the agents go', async () => ((await (await fetch(`${m.url}/healthz`)).json()) as { agentsConnected: number }).agentsConnected === 0, { timeoutMs: 60_000 });
    const storm = startSim(m, n, watchPort);
    sims.push(storm.proc);
    storm.proc.stdin!.end(tokens.join('\n') + '\n');
    const { connectMs } = await storm.next();
    await waitFor('every node normal again', () => allNormal(m, n), { timeoutMs: 600_000, intervalMs: 1000 });
    const stormNormalS = (performance.now() - stormT0) / 1000;
    const stormFaults = (await countRuns(m, 'FAULT_NODE')) - stormFaults0;
    const stormSkipped = (await skippedTicks(m)) - restartSkipped;
    await new Promise((r) => setTimeout(r, 5000)); // settle: nothing left to do but heartbeats
    const pid = m.proc.child.pid!;
    const cpu = await cpuPercent(pid, 10_000);
    const rss = treeRssMiB(pid); // with its DNS process
    return row([backend, n, setupS, `${restartS.toFixed(1)} (${readyS.toFixed(1)})`, restart.attempts, restartFaults, restartSkipped, connectMs / 1000, stormFaults, stormNormalS, stormSkipped, cpu, rss]);
  } catch (err) {
    const state = m.proc.running ? 'still running' : `exited with ${m.proc.child.exitCode ?? m.proc.child.signalCode}`;
    throw new Error(`${backend} ${n}: ${(err as Error).message}; manager ${state}; its last output:\n${m.proc.output.slice(-3000)}`);
  } finally {
    for (const s of sims) s.kill('SIGTERM');
    await m.proc.stop(60_000); // thousands of connections to close, and maybe a profile to write
    await pg?.drop();
    dir.remove();
  }
}

/**
 * Fault detection over real agents: `kill` ends the agent's process (kill -9: its socket closes), `stop` freezes it
 * (SIGSTOP: the socket stays open and goes silent, as when a host hangs). Time from the signal to the node `fault`.
 */
async function faultDetection(mode: 'kill' | 'stop'): Promise<number[]> {
  const dir = tempDir('bench-fault');
  const m = await startManagerProcess({ OCDN_DATA_DIR: dir.path, OCDN_LOG_LEVEL: 'warn', ...envPairs(process.env.BENCH_MANAGER_ENV) });
  const times: number[] = [];
  try {
    const port = await freePort('127.0.0.2');
    const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: 'victim', ip: '127.0.0.2', roles: ['cdn'], agentPort: port }) });
    const status = async () => (await m.json(`/api/v1/nodes/${r.node.id}`)).status as string;
    for (let i = 0; i < kills; i++) {
      const agent = startAgentProcess(m.url, r.token, '127.0.0.2', port, { OCDN_LOG_LEVEL: 'warn' });
      await waitFor('normal', async () => (await status()) === 'normal', { timeoutMs: 30_000, intervalMs: 50 });
      await new Promise((res) => setTimeout(res, 1000 + Math.random() * 1000)); // at a random point of the period
      const t0 = performance.now();
      if (mode === 'kill') await agent.kill9();
      else agent.child.kill('SIGSTOP');
      await waitFor('fault', async () => (await status()) === 'fault', { timeoutMs: 30_000, intervalMs: 10 });
      times.push(performance.now() - t0);
      if (mode === 'stop') {
        agent.child.kill('SIGCONT');
        await agent.kill9();
      }
      if (process.env.BENCH_VERBOSE) console.log(`${mode} ${i}: ${Math.round(times.at(-1)!)} ms`);
    }
  } finally {
    await m.proc.stop();
    dir.remove();
  }
  return times;
}

console.log('\n## bench/hub — N simulated agents on one manager, heartbeat 1 s');
console.log('setup: registered through the API while connecting. mgr restart: kill -9 of the manager, a new one on the same');
console.log('database → all N connected again (s from the kill; in brackets, until the new one answered /healthz), connection');
console.log('attempts, nodes taken for faulty, health ticks skipped. agents restart: all agent processes go at once (every node');
console.log('faulty), a fresh one connects all N: s until all connected, nodes taken for faulty, s from the agents going until');
console.log('every node is normal again, health ticks skipped. CPU and RSS (with the DNS process) at steady state.');
console.log(row(['database', 'agents', 'setup s', 'mgr restart s', 'attempts', 'faults', 'skipped', 'agents rst s', 'faults', 'normal s', 'skipped', 'mgr CPU %', 'mgr RSS MiB']));
for (const backend of backends) {
  for (const n of sizes) {
    const line = await hubRun(n, backend);
    console.log(line ?? row([backend, n, 'skipped: no PostgreSQL at ' + new URL(pgBase).host]));
  }
}
console.log('\n## bench/hub — fault detection: signal to the agent → node `fault` (defaults: heartbeat 1 s, fault after 3)');
console.log(row(['agent', 'runs', 'p50 ms', 'p99 ms', 'max ms', 'floor p99']));
for (const [mode, label, floor] of [['kill', 'kill -9', 1500], ['stop', 'SIGSTOP', 3500]] as const) {
  const times = await faultDetection(mode);
  const p99 = percentile(times, 99);
  console.log(row([label, times.length, percentile(times, 50), p99, Math.max(...times), `${floor} ms: ${p99 <= floor ? 'met' : 'NOT met'}`]));
}
