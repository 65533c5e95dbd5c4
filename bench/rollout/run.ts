// bench/rollout: N domains onto M agents whose nginx commands only record the call (real agent processes, real
// manager, embedded database). Reports the time until every ADD_DOMAIN succeeded and the reloads per node.
import { execFileSync } from 'node:child_process';
import { setPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MANAGER_LAUNCH_ENV, MANAGER_POSTGRES_ENV, freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle, type Proc } from '../../test/support/procs.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.ts';
import { waitFor } from '../../test/support/wait.ts';
import { queryA } from '../../test/support/dns.ts';
import { apiProbe, dnsProbe } from './probes.ts';
import { stallWatch } from './stalls.ts';
import { childCpuSeconds, cpuSeconds, cpuSecondsOf, envPairs, percentile, row, rssMiB, threadSchedSeconds, treeCpuSeconds, treeRssMiB } from '../lib.ts';

const domainCount = Number(process.env.BENCH_ROLLOUT_DOMAINS ?? 1000);
const agentCount = Number(process.env.BENCH_ROLLOUT_AGENTS ?? 50);
/** Agents killed (kill -9) to time failover: half while the fleet is idle, half during the rollout. */
const victimCount = 2 * Math.max(1, Math.round(Number(process.env.BENCH_ROLLOUT_KILLS ?? 5)));

/**
 * A node the rollout does not touch (its domains name their nodes), killed to time failover. It carries one domain
 * of its own, `name`, published with the first rollout agent's address too: what its death takes out of DNS.
 */
interface Victim {
  id: string;
  ip: string;
  name: string;
  proc: Proc;
}

/**
 * Kills a victim (kill -9) and resolves with the milliseconds until the built-in DNS stops answering its address for
 * its domain — `dns`: the send time of the first query whose answer lacks it — and until the manager shows its node
 * `fault` — `seen`: the
 * send time of the first GET that sees it (polled one after another; under load a GET takes a while itself, so this
 * carries the API's latency too) — and until the manager decided it — `decided`: when the transaction that writes the
 * status and starts FAULT_NODE began (its run's createdAt; the same machine's clock).
 */
async function killAndTime(m: ManagerHandle, v: Victim, dnsPort: number): Promise<{ seen: number; decided: number; dns: number }> {
  const dns = await watchDns(dnsPort, v);
  const t0 = performance.now();
  const wall0 = Date.now();
  await v.proc.kill9();
  const times = await apiFault(m, v, t0, wall0);
  return { ...times, dns: (await dns.gone) - (performance.timeOrigin + t0) };
}

/**
 * Watches the victim's name on a thread of its own (dns-gone.mjs); resolves once its address is answered. `gone`:
 * the send time (performance.timeOrigin + now()) of the first answer without it.
 */
function watchDns(port: number, v: Victim): Promise<{ gone: Promise<number> }> {
  const worker = new Worker(new URL('./dns-gone.mjs', import.meta.url), { workerData: { port, name: v.name, ip: v.ip } });
  return new Promise((ready, fail) => {
    let timer: NodeJS.Timeout | undefined;
    const gone = new Promise<number>((resolve, reject) => {
      worker.on('message', (m: { op: 'ready' } | { op: 'gone'; at: number }) => {
        if (m.op === 'ready') {
          timer = setTimeout(() => reject(new Error(`${v.ip} still answered for ${v.name} 120 s after`)), 120_000);
          ready({ gone });
        } else resolve(m.at);
      });
      worker.on('error', (err) => (reject(err), fail(err)));
    }).finally(() => {
      clearTimeout(timer);
      void worker.terminate();
    });
    gone.catch(() => {}); // seen by the caller's await
  });
}

async function apiFault(m: ManagerHandle, v: Victim, t0: number, wall0: number): Promise<{ seen: number; decided: number }> {
  for (;;) {
    const sent = performance.now();
    if ((await m.json(`/api/v1/nodes/${v.id}`)).status === 'fault') {
      const runs = (await m.json(`/api/v1/pipelines?kind=FAULT_NODE&subject=${v.id}&limit=100`)).items as { createdAt: string }[];
      const after = runs.map((r) => Date.parse(r.createdAt)).filter((at) => at >= wall0 - 5);
      if (after.length === 0) throw new Error(`node ${v.id} is fault without a FAULT_NODE run after its kill`);
      return { seen: sent - t0, decided: Math.max(0, Math.min(...after) - wall0) };
    }
    if (sent - t0 > 120_000) throw new Error(`node ${v.id} not fault 120 s after its agent was killed`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The manager's event-loop delay since the previous scrape of /metrics (prom-client resets its histogram on each
 * one), in ms: p50, p99, max. The figures include the monitor's 10 ms timer period.
 */
async function loopLag(m: ManagerHandle): Promise<string[]> {
  const metrics = await (await m.api('/metrics')).text();
  const at = (name: string) => ((Number(new RegExp(`^ocdn_manager_nodejs_eventloop_lag_${name}_seconds ([0-9.e+-]+)$`, 'm').exec(metrics)?.[1] ?? NaN)) * 1000).toFixed(1);
  return [at('p50'), at('p99'), at('max')];
}

/** Has the manager write a heap snapshot (it runs a full collection first) into `dir`; resolves with its path. */
async function heapSnapshot(m: ManagerHandle, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  m.proc.child.kill('SIGUSR2');
  let last = -1;
  let file = '';
  await waitFor('the heap snapshot written', () => {
    file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f)) ?? '';
    if (!file) return false;
    const size = statSync(join(dir, file)).size;
    const done = size > 0 && size === last; // no longer growing over one interval
    last = size;
    return done;
  }, { timeoutMs: 600_000, intervalMs: 2_000 });
  return join(dir, file);
}

async function main(): Promise<void> {
  const dir = tempDir('bench-rollout');
  let m: ManagerHandle | undefined;
  let tdb: TestDatabase | undefined;
  const agents: Proc[] = [];
  const victims: Victim[] = [];
  try {
    // BENCH_PROFILE_DIR: the manager and the first agent write V8 CPU profiles there when they stop.
    const profileArgs = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : process.env.BENCH_PERF ? ['--perf-basic-prof'] : [];
    // BENCH_HEAP_SNAPSHOT_DIR: the manager writes a heap snapshot there once the rollout is done (what it still holds).
    const snapshotDir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
    if (snapshotDir) profileArgs.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`);
    // BENCH_ROLLOUT_DATABASE_URL runs the manager on PostgreSQL instead of the embedded database.
    // A database of its own, made for this run and dropped after it: a run never measures what an earlier one left.
    if (process.env.BENCH_ROLLOUT_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_ROLLOUT_DATABASE_URL;
    tdb = process.env.BENCH_ROLLOUT_DATABASE_URL ? await createTestDatabase('postgres') : undefined;
    const dbUrl = tdb?.url ?? undefined;
    const dnsPort = await freePort();
    // BENCH_MANAGER_ENV: more environment for the manager, `NAME=value` space-separated (overrides its launch environment).
    // On PostgreSQL the manager runs as README "Running in production" advises for it (MANAGER_POSTGRES_ENV).
    const managerEnv: Record<string, string> = {
      ...(process.env.BENCH_ROLLOUT_DATABASE_URL ? MANAGER_POSTGRES_ENV : {}),
      ...envPairs(process.env.BENCH_MANAGER_ENV),
    };
    m = await startManagerProcess({ ...(dbUrl ? { DATABASE_URL: dbUrl } : { OCDN_DATA_DIR: join(dir.path, 'data') }), OCDN_LOG_LEVEL: 'warn', OCDN_DNS_PORT: String(dnsPort), ...managerEnv },
      // BENCH_MANAGER_ARGS: node flags for the manager, space-separated (e.g. --trace-gc, --max-old-space-size=8192).
      { nodeArgs: [...profileArgs, ...(process.env.BENCH_MANAGER_ARGS?.split(' ').filter(Boolean) ?? [])] },
    );
    // A/B of two agent builds (or node flags, or environments) in one run: every other agent runs BENCH_AGENT_B (a
    // bundle) and/or with BENCH_AGENT_B_ARGS (node flags, space-separated); each half's CPU is reported. Every domain goes to every agent,
    // so both halves do the same work under the same load — run-to-run noise does not enter the comparison.
    const abBundle = process.env.BENCH_AGENT_B || undefined;
    const abArgs = process.env.BENCH_AGENT_B_ARGS?.split(' ').filter(Boolean);
    // BENCH_AGENT_B_ENV: environment of the B half, `NAME=value` space-separated (overrides the launch environment).
    const abEnv = envPairs(process.env.BENCH_AGENT_B_ENV);
    const recs: string[] = [];
    for (let i = 0; i < agentCount; i++) {
      const ip = `127.0.2.${i + 1}`;
      const port = await freePort(ip);
      const rec = join(dir.path, `reloads-${i}`);
      mkdirSync(rec);
      recs.push(rec);
      const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: `roll-${i}`, ip, roles: ['cdn'], agentPort: port }) });
      agents.push(
        startAgentProcess(m.url, r.token, ip, port, {
          OCDN_NGINX_CONF_DIR: join(dir.path, `conf-${i}`),
          OCDN_NGINX_CACHE_DIR: join(dir.path, `cache-${i}`),
          OCDN_NGINX_TEST_CMD: 'true',
          // each reload leaves one new file behind: a recorder as cheap as a process can be (no shell, no runtime)
          OCDN_NGINX_RELOAD_CMD: `mktemp -p ${rec} reload.XXXXXXXX`,
          OCDN_LOG_LEVEL: 'warn',
          ...(i % 2 ? abEnv : {}),
        }, { nodeArgs: [...(i === 0 ? profileArgs : []), ...(i % 2 && abArgs ? abArgs : [])], ...(i % 2 && abBundle ? { bundle: abBundle } : {}) }),
      );
      // BENCH_AGENT_NICE: the simulated edge nodes yield this machine's CPU to the manager, as remote hosts would.
      if (process.env.BENCH_AGENT_NICE) setPriority(agents.at(-1)!.child.pid!, Number(process.env.BENCH_AGENT_NICE));
    }
    const rolloutNodeIds = (await m.json('/api/v1/nodes?limit=1000')).items.map((n: { id: string }) => n.id);
    for (let i = 0; i < victimCount; i++) {
      const ip = `127.0.5.${i + 1}`;
      const port = await freePort(ip);
      const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: `victim-${i}`, ip, roles: ['cdn'], agentPort: port }) });
      const proc = startAgentProcess(m.url, r.token, ip, port, {
        OCDN_NGINX_CONF_DIR: join(dir.path, `victim-conf-${i}`),
        OCDN_NGINX_CACHE_DIR: join(dir.path, `victim-cache-${i}`),
        OCDN_NGINX_TEST_CMD: 'true',
        OCDN_NGINX_RELOAD_CMD: 'true',
        OCDN_LOG_LEVEL: 'warn',
      });
      // BENCH_VICTIM_PRIORITY (`rt`, the default: SCHED_RR 1 on every thread; a nice value; or `off`): a killed agent's
      // own exit — its sockets closing — is not queued behind the rollout's load on this machine's two cores, as a dead
      // node's host is not the manager's. At normal priority a victim killed during 1,000 x 50 took up to 200 ms to
      // close its sockets, at nice -10 up to 40 ms (the watch thread decided 1-4 ms after they closed).
      const victimPriority = process.env.BENCH_VICTIM_PRIORITY ?? 'rt';
      if (victimPriority === 'rt') execFileSync('chrt', ['--all-tasks', '--rr', '--pid', '1', String(proc.child.pid!)]);
      else if (victimPriority !== 'off') setPriority(proc.child.pid!, Number(victimPriority));
      victims.push({ id: r.node.id, ip, name: `v${i}-victims-example.cdn.ocdn.test`, proc });
    }
    await waitFor('agents normal', async () => (await m!.json('/api/v1/nodes?limit=1000')).items.every((n: { status: string }) => n.status === 'normal'), { timeoutMs: 120_000, intervalMs: 250 });
    // Each victim's own domain, on it and on the first rollout agent (so that its address can leave: FAULT_NODE
    // leaves a domain's last address published).
    for (const [i, v] of victims.entries()) {
      const r = await m.json('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: `v${i}.victims.example`, origins: ['http://127.0.0.1:9'], nodeIds: [v.id, rolloutNodeIds[0]] }) });
      await waitFor(`the victim's domain ${i}`, async () => (await m!.json(`/api/v1/pipelines/${r.pipeline.id}`)).status === 'succeeded', { timeoutMs: 60_000, intervalMs: 100 });
      await waitFor(`${v.name} answered with both`, async () => (await queryA(dnsPort, v.name)).includes(v.ip), { timeoutMs: 10_000 });
    }

    // CPU of each party over the rollout: where a 2-core machine's time goes.
    const pgNeedle = dbUrl ? `postgres ${new URL(dbUrl).pathname.slice(1)} ` : null;
    const cpu = () => ({
      manager: treeCpuSeconds(m!.proc.child.pid!), // with its DNS process
      agents: agents.reduce((a, p) => a + cpuSeconds(p.child.pid!), 0),
      agentsB: agents.reduce((a, p, i) => a + (i % 2 ? cpuSeconds(p.child.pid!) : 0), 0),
      commands: agents.reduce((a, p) => a + childCpuSeconds(p.child.pid!), 0),
      postgres: pgNeedle ? cpuSecondsOf(pgNeedle) : 0,
      // The manager's main thread (the API, the hub, the engine; PGlite on the embedded database).
      managerThread: threadSchedSeconds(m!.proc.child.pid!),
    });
    // The fleet at rest first: what fifty idle agents and the manager cost (heartbeats, health checks).
    const idle0 = cpu();
    await loopLag(m); // from here on, the idle phase's
    const stalls = stallWatch();
    await stalls.take();
    const idleT0 = performance.now();
    const idleProbe = dnsProbe(dnsPort);
    const nodePath = `/api/v1/nodes/${rolloutNodeIds[0]}`; // a node the rollout is adding domains onto
    const idleApi = apiProbe(m.url, nodePath, m.adminToken);
    await new Promise((r) => setTimeout(r, 5_000));
    const idleDns = (await idleProbe.stop()).times;
    const idleApiProbed = await idleApi.stop();
    const idle1 = cpu();
    const rssIdle = { manager: treeRssMiB(m.proc.child.pid!), agent: Math.max(...agents.map((a) => rssMiB(a.child.pid!))) };
    const halfRss = (b: number) => Math.max(...agents.filter((_, i) => i % 2 === b).map((a) => rssMiB(a.child.pid!)));
    const abRssIdle = [halfRss(0), halfRss(1)];
    const idleS = (performance.now() - idleT0) / 1000;
    // Failover of an idle fleet: the first half of the victims, one kill at a time, at random points of the period.
    const idleFailover: number[] = [];
    const idleDecided: number[] = [];
    const idleGone: number[] = [];
    for (const v of victims.slice(0, victimCount / 2)) {
      await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
      const t = await killAndTime(m, v, dnsPort);
      idleFailover.push(t.seen);
      idleDecided.push(t.decided);
      idleGone.push(t.dns);
    }
    const idleLag = await loopLag(m); // the idle phase with its kills (and from here on, the rollout's)
    const idleStalls = await stalls.take();
    const cpu0 = cpu();
    const t0 = performance.now();
    const busyProbe = dnsProbe(dnsPort);
    const busyApi = apiProbe(m.url, nodePath, m.adminToken);
    const ids: string[] = [];
    const postMs: number[] = [];
    // Failover under load: the other half, killed during the rollout (from 3 s in, one every 2 s or so).
    let rolling = true;
    const busyFailover: number[] = [];
    const busyDecided: number[] = [];
    const busyGone: number[] = [];
    const busyVictims = victims.slice(victimCount / 2);
    const killing = (async () => {
      const timed: Promise<unknown>[] = [];
      await new Promise((r) => setTimeout(r, 3000));
      for (const v of busyVictims) {
        if (!rolling) break;
        timed.push(killAndTime(m!, v, dnsPort).then((t) => (busyFailover.push(t.seen), busyDecided.push(t.decided), busyGone.push(t.dns))));
        await new Promise((r) => setTimeout(r, 1500 + Math.random() * 1000));
      }
      await Promise.all(timed);
    })();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < domainCount) {
          const i = next++;
          const p0 = performance.now();
          const r = await m!.json('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: `r${i}.rollout.example`, origins: ['http://127.0.0.1:9'], nodeIds: rolloutNodeIds }) });
          postMs.push(performance.now() - p0);
          ids.push(r.pipeline.id);
        }
      }),
    );
    const postedS = (performance.now() - t0) / 1000;
    // A failed run ends the benchmark at once (waitFor would take a thrown error for "not yet" until its deadline).
    let failure: string | null = null;
    await waitFor(
      'every ADD_DOMAIN to succeed',
      async () => {
        const failed = (await m!.json('/api/v1/pipelines?kind=ADD_DOMAIN&status=failed&limit=1')).items;
        if (failed.length) return (failure = `a pipeline failed: ${JSON.stringify(failed[0].steps.filter((s: { error: unknown }) => s.error))}`);
        const open = [...(await m!.json('/api/v1/pipelines?kind=ADD_DOMAIN&status=running&limit=1')).items, ...(await m!.json('/api/v1/pipelines?kind=ADD_DOMAIN&status=pending&limit=1')).items];
        return open.length === 0;
      },
      { timeoutMs: 3_600_000, intervalMs: 1000 },
    );
    if (failure) throw new Error(failure);
    const totalS = (performance.now() - t0) / 1000;
    const busyLag = await loopLag(m);
    rolling = false;
    await killing;
    const busyProbed = await busyProbe.stop();
    const busyApiProbed = await busyApi.stop();
    const busyStalls = await stalls.take();
    await stalls.stop();
    const busyDns = busyProbed.times;
    const cpu1 = cpu();
    const reloads = recs.map((r) => readdirSync(r).length);
    // Rollout nodes (not the victims) taken for faulty meanwhile: their part of the runs went to their recovery.
    const victimIds = new Set(victims.map((v) => v.id));
    const faulted = new Set(((await m.json('/api/v1/pipelines?kind=FAULT_NODE&limit=1000')).items as { subject: string }[]).map((r) => r.subject).filter((id) => !victimIds.has(id)));
    // The agents' default OCDN_NGINX_RELOAD_MIN_INTERVAL_MS: at most one reload per interval is the floor.
    const windows = Math.ceil((totalS * 1000) / 2000);
    console.log(`\n## bench/rollout — ${domainCount} domains onto ${agentCount} agents (reload only recorded), ${dbUrl ? 'PostgreSQL' : 'embedded database'}, manager MALLOC_MMAP_THRESHOLD_=${managerEnv.MALLOC_MMAP_THRESHOLD_ ?? MANAGER_LAUNCH_ENV.MALLOC_MMAP_THRESHOLD_}${managerEnv.NODE_OPTIONS ? ` NODE_OPTIONS=${managerEnv.NODE_OPTIONS}` : ''}`);
    console.log(row(['domains', 'agents', 'posted s', 'all done s', 'reloads/node max', 'avg', '2 s windows']));
    console.log(row([domainCount, agentCount, postedS, totalS, Math.max(...reloads), reloads.reduce((a, b) => a + b, 0) / reloads.length, windows]));
    if (faulted.size) console.log(`${faulted.size} rollout node(s) taken for faulty during the run (their steps handed to RECOVER_NODE)`);
    console.log(row(['POST ms:', 'p50', 'p99', 'max']));
    console.log(row(['', percentile(postMs, 50), percentile(postMs, 99), Math.max(...postMs)]));
    console.log(row(['CPU s:', 'manager', 'agents', 'reload cmds', 'postgres']));
    console.log(row(['', cpu1.manager - cpu0.manager, cpu1.agents - cpu0.agents, cpu1.commands - cpu0.commands, cpu1.postgres - cpu0.postgres]));
    const pct = (a: number, b: number) => `${(((a - b) / idleS) * 100).toFixed(1)}%`;
    console.log(row(['idle CPU:', pct(idle1.manager, idle0.manager), pct(idle1.agents, idle0.agents), '', pct(idle1.postgres, idle0.postgres)]));
    const perDomainNodeMs = (x: number) => ((x * 1000) / (domainCount * agentCount)).toFixed(2);
    console.log(row(['CPU ms per domain-node:', perDomainNodeMs(cpu1.manager - cpu0.manager), perDomainNodeMs(cpu1.agents - cpu0.agents)]));
    // How much of the rollout the manager's thread had work but no core: on a slow day, or with the agents' load on
    // the same two cores, this is what its latencies (failover on the embedded database, the API) are made of.
    const onCore = cpu1.managerThread.run - cpu0.managerThread.run;
    const queued = cpu1.managerThread.wait - cpu0.managerThread.wait;
    console.log(row(['main thread s:', 'on a core', 'waiting for one', 'waiting share'])); // the manager's
    console.log(row(['  rollout', onCore, queued, `${((queued / (onCore + queued)) * 100).toFixed(0)}%`]));
    if (abBundle || abArgs || Object.keys(abEnv).length) {
      const b = cpu1.agentsB - cpu0.agentsB;
      const a = cpu1.agents - cpu0.agents - b;
      const halfMs = (x: number, n: number) => ((x * 1000) / (domainCount * n)).toFixed(3);
      console.log(row(['A/B agents:', 'A (even)', 'B (odd)', 'B / A', `B: ${[abBundle, ...(abArgs ?? []), process.env.BENCH_AGENT_B_ENV].filter(Boolean).join(' ')}`]));
      const nB = Math.floor(agentCount / 2);
      console.log(row(['  ms per domain-node', halfMs(a, agentCount - nB), halfMs(b, nB), (b / nB / (a / (agentCount - nB))).toFixed(3)]));
      console.log(row(['  RSS MiB idle (max)', abRssIdle[0]!, abRssIdle[1]!]));
      console.log(row(['  after rollout', halfRss(0), halfRss(1)]));
    }
    console.log(row(['RSS MiB:', 'manager+DNS', 'agent (max)']));
    console.log(row(['  idle', rssIdle.manager, rssIdle.agent]));
    console.log(row(['  after rollout', treeRssMiB(m.proc.child.pid!), Math.max(...agents.map((a) => rssMiB(a.child.pid!)))]));
    // What of the manager's RSS is its JavaScript heap (live objects) and what is V8's or the allocator's keep.
    const metrics = await (await m.api('/metrics')).text();
    const gauge = (name: string) => Number(new RegExp(`^ocdn_manager_${name} ([0-9.e+]+)$`, 'm').exec(metrics)?.[1] ?? NaN) / 2 ** 20;
    console.log(row(['  heap MiB', `used ${gauge('nodejs_heap_size_used_bytes').toFixed(1)}`, `total ${gauge('nodejs_heap_size_total_bytes').toFixed(1)}`, `external ${gauge('nodejs_external_memory_bytes').toFixed(1)}`]));
    if (snapshotDir) console.log(row(['  heap snapshot', await heapSnapshot(m, snapshotDir)]));
    const ms = (xs: number[], q: number) => percentile(xs, q).toFixed(2);
    const fo = (xs: number[]) => (xs.length ? [xs.length, percentile(xs, 50), percentile(xs, 99), Math.max(...xs)] : [0, '-', '-', '-']);
    console.log(row(['failover ms:', 'kills', 'p50', 'p99', 'max', 'floor: busy p99 ≤ 1.5 × idle']));
    const failoverRows = (label: string, idle: number[], busy: number[]) => {
      console.log(row([`  ${label} idle`, ...fo(idle)]));
      const ok = busy.length > 0 && percentile(busy, 99) <= 1.5 * percentile(idle, 99);
      console.log(row([`  ${label} busy`, ...fo(busy), busy.length < busyVictims.length ? `only ${busy.length} killed before the end` : ok ? 'met' : 'NOT met']));
    };
    // BENCH_VERBOSE: every kill's times too, in ms (five kills make a p99 their slowest one).
    if (process.env.BENCH_VERBOSE) console.log(JSON.stringify({ idleDecided, busyDecided, idleGone, busyGone, idleSeen: idleFailover, busySeen: busyFailover }, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v)));
    failoverRows('GET', idleFailover, busyFailover); // seen by a GET
    failoverRows('decided', idleDecided, busyDecided); // FAULT_NODE's transaction began
    failoverRows('out of DNS', idleGone, busyGone); // the address gone from the built-in DNS's answers
    // How long the manager's thread kept a 10 ms timer waiting (prom-client's monitorEventLoopDelay): what a socket
    // close, a probe's answer or an API request waits for before the manager looks at it.
    console.log(row(['loop delay ms:', 'p50', 'p99', 'max']));
    console.log(row(['  idle', ...idleLag]));
    console.log(row(['  during rollout', ...busyLag]));
    console.log(row(['DNS answer ms:', 'queries', 'p50', 'p99', 'max', 'floor p99 ≤ 5 ms', busyProbed.raised ? `probe at ${busyProbed.raised}` : 'probe NOT raised (its own waits count)']));
    console.log(row(['  idle', idleDns.length, ms(idleDns, 50), ms(idleDns, 99), Math.max(...idleDns).toFixed(2)]));
    const dnsReloads = /^ocdn_dns_reloads_total ([0-9]+)$/m.exec(metrics)?.[1] ?? '?';
    console.log(row(['  during rollout', busyDns.length, ms(busyDns, 50), ms(busyDns, 99), Math.max(...busyDns).toFixed(2), percentile(busyDns, 99) <= 5 ? 'met' : 'NOT met', `records reloaded ${dnsReloads}×`]));
    // What an operator's console waits for: a GET of a node, one at a time, from a raised thread (api-probe.mjs).
    console.log(row(['API GET ms:', 'requests', 'p50', 'p99', 'max', 'failed', busyApiProbed.raised ? `client at ${busyApiProbed.raised}` : 'client NOT raised (its own waits count)']));
    for (const [label, p] of [['  idle', idleApiProbed], ['  during rollout', busyApiProbed]] as const) {
      console.log(row([label, p.times.length, ms(p.times, 50), ms(p.times, 99), p.times.length ? Math.max(...p.times).toFixed(2) : '-', p.failures.length ? `${p.failures.length}: ${p.failures[0]}` : 0]));
    }
    // What no thread of this machine could have avoided: a CPU not running at all (a virtual one the host held).
    console.log(row(['CPU stalls ms:', '>10 ms', 'max', 'sum', busyStalls.raised ? 'cyclictest, a thread per CPU at SCHED_RR 99' : 'cyclictest NOT at SCHED_RR 99 (or not installed: rt-tests)']));
    const stallRow = (label: string, xs: number[]) => console.log(row([label, xs.length, xs.length ? Math.max(...xs).toFixed(1) : '-', xs.reduce((a, b) => a + b, 0).toFixed(0)]));
    stallRow('  idle', idleStalls.stalls);
    stallRow('  during rollout', busyStalls.stalls);
  } finally {
    await Promise.all([...agents, ...victims.map((v) => v.proc)].map((a) => a.stop()));
    await m?.proc.stop(60_000); // a profiled manager writes its profile on the way out
    await tdb?.cleanup();
    dir.remove();
  }
}

await main();
