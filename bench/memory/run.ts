// bench/memory: what an idle manager and an idle agent hold (the speed issue's item 5). The built manager as
// `npm start` runs it — on the embedded database, then on PostgreSQL when one answers — with one real agent (the
// bundle, as its unit runs it) connected, sampled at several ages: on the embedded database V8 gives back ~30 MiB of
// heap pages start-up used only 25–60 s after start (docs/benchmarks.md, Memory), so the first minute differs.
//
// The built-in DNS answers from a thread of the manager's by default; with OCDN_DNS_ISOLATION=process (pass it in
// BENCH_MANAGER_ENV) the manager is two processes, itself and its DNS process. Their RSS summed counts twice the
// pages of the `node` binary both map, so three figures are printed: the manager's process alone; the two RSS summed
// (the floor's reading); the manager's RSS plus what only the DNS process holds (its private pages: what the machine
// would get back without it), and PSS summed (shared pages split between the processes that map them). The floors
// are read in MiB and in SI megabytes (200 MB is 190.7 MiB, 50 MB is 47.7 MiB).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANAGER_POSTGRES_ENV, freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle, type Proc } from '../../test/support/procs.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.ts';
import { waitFor } from '../../test/support/wait.ts';
import { childrenOf, envPairs, row, onEachDatabase } from '../lib.ts';

const AGES_S = (process.env.BENCH_MEMORY_AGES_S ?? '10,30,60,90').split(',').map(Number).filter((s) => s > 0).sort((a, b) => a - b);
/** Extra node arguments for the manager and the agent (experiments: `--max-semi-space-size=1`, say). */
const MANAGER_ARGS = (process.env.BENCH_MEMORY_MANAGER_ARGS ?? '').split(' ').filter(Boolean);
const AGENT_ARGS = (process.env.BENCH_MEMORY_AGENT_ARGS ?? '').split(' ').filter(Boolean);
/** The floors: 200 and 50, read both as MiB and as SI megabytes. */
const FLOOR_MANAGER = 200;
const FLOOR_AGENT = 50;

/** A process's RSS, PSS and private (unshared) pages, in MiB, from /proc/<pid>/smaps_rollup. */
function memoryOf(pid: number): { rss: number; pss: number; private: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kb('Rss') / 1024, pss: kb('Pss') / 1024, private: (kb('Private_Clean') + kb('Private_Dirty')) / 1024 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (x: number) => x.toFixed(1);

async function measure(backend: 'pglite' | 'postgres'): Promise<void> {
  const dir = tempDir(`bench-memory-${backend}`);
  let tdb: TestDatabase | undefined;
  let m: ManagerHandle | undefined;
  let agent: Proc | undefined;
  try {
    if (backend === 'postgres') tdb = await createTestDatabase('postgres');
    const started = Date.now();
    m = await startManagerProcess({
      ...(tdb?.url ? { DATABASE_URL: tdb.url, ...MANAGER_POSTGRES_ENV } : { OCDN_DATA_DIR: join(dir.path, 'data') }),
      OCDN_LOG_LEVEL: 'warn',
      ...envPairs(process.env.BENCH_MANAGER_ENV),
    }, { nodeArgs: MANAGER_ARGS });
    const ip = '127.0.0.2';
    const port = await freePort(ip);
    const node = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: 'memory-1', ip, roles: ['cdn'], agentPort: port }) });
    agent = startAgentProcess(m.url, node.token, ip, port, {
      OCDN_NGINX_CONF_DIR: join(dir.path, 'conf'),
      OCDN_NGINX_CACHE_DIR: join(dir.path, 'cache'),
      OCDN_NGINX_TEST_CMD: 'true',
      OCDN_NGINX_RELOAD_CMD: 'true',
      OCDN_LOG_LEVEL: 'warn',
      ...envPairs(process.env.BENCH_AGENT_ENV),
    }, { nodeArgs: AGENT_ARGS });
    const manager = m;
    await waitFor('the agent connected and its node normal', async () => (await manager.json(`/api/v1/nodes/${node.node.id}`)).status === 'normal', { timeoutMs: 30_000, intervalMs: 100 });
    const pid = m.proc.child.pid!;
    const agentPid = agent.child.pid!;
    let last: { summed: number; sharedOnce: number; alone: number; agent: number } | undefined;
    for (const age of AGES_S) {
      await sleep(Math.max(0, started + age * 1000 - Date.now()));
      const own = memoryOf(pid);
      const dns = childrenOf(pid).map(memoryOf);
      const dnsRss = dns.reduce((a, d) => a + d.rss, 0);
      const dnsPrivate = dns.reduce((a, d) => a + d.private, 0);
      const pss = own.pss + dns.reduce((a, d) => a + d.pss, 0);
      const agentRss = memoryOf(agentPid).rss;
      last = { alone: own.rss, summed: own.rss + dnsRss, sharedOnce: own.rss + dnsPrivate, agent: agentRss };
      console.log(row([`${backend} ${age} s`, mib(own.rss), mib(dnsRss), mib(dnsPrivate), mib(last.summed), mib(last.sharedOnce), mib(pss), mib(agentRss)], 18));
    }
    if (!last) return;
    const verdict = (x: number, floor: number) => `${x <= floor ? 'met' : 'NOT met'} in MiB, ${(x * 1.048576) <= floor ? 'met' : 'NOT met'} in MB`;
    console.log(
      `  ${backend} at ${AGES_S.at(-1)} s: manager ≤ ${FLOOR_MANAGER} — its process ${verdict(last.alone, FLOOR_MANAGER)}; ` +
        `RSS summed ${verdict(last.summed, FLOOR_MANAGER)}; shared pages once ${verdict(last.sharedOnce, FLOOR_MANAGER)}; ` +
        `agent ≤ ${FLOOR_AGENT} ${verdict(last.agent, FLOOR_AGENT)} (${mib(last.agent * 1.048576)} MB)`,
    );
  } finally {
    await agent?.stop();
    await m?.proc.stop();
    await tdb?.cleanup();
    dir.remove();
  }
}

console.log(`bench/memory: an idle manager with one agent connected, MiB at each age since the manager started (${AGES_S.join(', ')} s)`);
console.log(row(['database, age', 'manager RSS', 'DNS proc RSS', 'DNS private', 'RSS summed', 'shared once', 'PSS summed', 'agent RSS'], 18));
onEachDatabase(measure);
