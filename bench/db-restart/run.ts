// bench/db-restart: how the manager answers while its PostgreSQL restarts again and again. Clients post domains
// without pause (two agents with real nginx take them) while a private PostgreSQL cluster (initdb/pg_ctl, never the
// machine's shared server) is stopped and started BENCH_DB_RESTART_ROUNDS times, each time away for 0.5-2 s. Every
// request must be answered, 202 or 503, and the manager must live through it; the figures are the requests'
// latencies. A request unanswered within 30 s counts as hung.
import { join } from 'node:path';
import { startNginx, type NginxInstance } from '../../test/support/nginx.ts';
import { pgBinDir, startPgCluster } from '../../test/support/pg-cluster.ts';
import { findProgram } from '../../test/support/programs.ts';
import { freePort, startAgentProcess, startManagerProcess, tempDir, type Proc } from '../../test/support/procs.ts';
import { waitFor } from '../../test/support/wait.ts';
import { percentile, row } from '../lib.ts';

const clients = Number(process.env.BENCH_DB_RESTART_CLIENTS ?? 6);
const rounds = Number(process.env.BENCH_DB_RESTART_ROUNDS ?? 12);
const HUNG_MS = 30_000;

const bin = pgBinDir();
const nginxPath = findProgram('nginx');
if (!bin || !nginxPath || !findProgram('runuser')) {
  console.log('bench/db-restart: needs PostgreSQL server programs (pg_ctl), nginx and runuser; skipped');
  process.exit(process.env.CI === 'true' ? 1 : 0);
}
const tmp = tempDir('bench-db-restart');
const pg = await startPgCluster(join(tmp.path, 'pg'), bin);
const cdnPort = await freePort();
const m = await startManagerProcess({ DATABASE_URL: pg.url, OCDN_LOG_LEVEL: 'warn', OCDN_CDN_LISTEN: `{ip}:${cdnPort}` });
const agents: Proc[] = [];
const nginxes: NginxInstance[] = [];
try {
  for (const [i, ip] of ['127.0.0.71', '127.0.0.72'].entries()) {
    const nginx = startNginx(nginxPath, join(tmp.path, `nginx-${i}`));
    nginxes.push(nginx);
    const port = await freePort(ip);
    const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: `edge-${i}`, ip, roles: ['cdn'], agentPort: port }) });
    agents.push(startAgentProcess(m.url, r.token, ip, port, { ...nginx.agentEnv, OCDN_RECONNECT_MAX_MS: '1000' }));
    await waitFor(`${ip} normal`, async () => (await m.json(`/api/v1/nodes/${r.node.id}`)).status === 'normal', { timeoutMs: 30_000 });
  }
  let stop = false;
  const latencies: number[] = [];
  const outcomes: Record<string, number> = {};
  const client = async (c: number) => {
    for (let i = 0; !stop && m.proc.running; i++) {
      const t0 = performance.now();
      const r = await m
        .api('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: `r${c}-${i}.example.com`, origins: ['http://127.0.0.1:9'] }), signal: AbortSignal.timeout(HUNG_MS) })
        .catch((err: Error) => err);
      const outcome = r instanceof Error ? (r.name === 'TimeoutError' ? 'hung' : 'no answer') : String(r.status);
      if (!(r instanceof Error)) await r.arrayBuffer();
      latencies.push(performance.now() - t0);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  };
  const running = Array.from({ length: clients }, (_, c) => client(c));
  for (let round = 0; round < rounds && m.proc.running; round++) {
    await new Promise((r) => setTimeout(r, 1500 + Math.random() * 2000));
    pg.stop();
    await new Promise((r) => setTimeout(r, 500 + Math.random() * 1500));
    await pg.start();
  }
  // Past the last restart by more than a hung request's deadline: every request made meanwhile is counted.
  await new Promise((r) => setTimeout(r, HUNG_MS + 5_000));
  stop = true;
  await Promise.all(running);
  console.log(`\n## bench/db-restart — ${clients} clients posting domains, PostgreSQL restarted ${rounds}×`);
  console.log(row(['requests', ...Object.keys(outcomes).sort()]));
  console.log(row([latencies.length, ...Object.keys(outcomes).sort().map((k) => outcomes[k]!)]));
  console.log(row(['latency ms', 'p50', 'p99', 'p99.9', 'max']));
  console.log(row(['', percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 99.9), Math.max(...latencies)]));
  console.log(`manager alive at the end: ${m.proc.running ? 'yes' : 'NO'}; hung requests (no answer within ${HUNG_MS / 1000} s): ${outcomes.hung ?? 0}`);
  if (!m.proc.running) console.log(m.proc.output.slice(-3000));
} finally {
  await Promise.all(agents.map((a) => a.stop()));
  await m.proc.stop();
  for (const n of nginxes) n.stop();
  pg.destroy();
  tmp.remove();
}
