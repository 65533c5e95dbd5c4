// bench/cdn: CDN figures with real processes.
//   failover  — agent killed -9 → its address gone from the built-in DNS answers (p50/p99 over N kills)
//   add       — ADD_DOMAIN on 2 real nginx nodes: POST → pipeline succeeded (p50/p99 over N domains)
import { createServer } from 'node:http';
import { join } from 'node:path';
import { startNginx } from '../../test/support/nginx.ts';
import { findProgram } from '../../test/support/programs.ts';
import { freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle, type Proc } from '../../test/support/procs.ts';
import { waitFor } from '../../test/support/wait.ts';
import { percentile, row } from '../lib.ts';
import { queryA } from '../../test/support/dns.ts';

const kills = Number(process.env.BENCH_CDN_KILLS ?? 20);
const adds = Number(process.env.BENCH_CDN_ADDS ?? 20);
const IPS = ['127.0.1.2', '127.0.1.3'];

async function main(): Promise<void> {
  const nginxPath = findProgram('nginx');
  if (!nginxPath) throw new Error('bench/cdn needs nginx');
  const dir = tempDir('bench-cdn');
  const origin = createServer((_req, res) => res.end('origin')).listen(await freePort(), '127.0.0.1');
  const cdnPort = await freePort(IPS[0]);
  const dnsPort = await freePort();
  let m: ManagerHandle | undefined;
  const agents: Proc[] = [];
  const nginxes: { stop(): void }[] = [];
  try {
    m = await startManagerProcess({ OCDN_DATA_DIR: join(dir.path, 'data'), OCDN_DNS_PORT: String(dnsPort), OCDN_CDN_LISTEN: `{ip}:${cdnPort}`, OCDN_LOG_LEVEL: 'warn' });
    const specs: { token: string; ip: string; port: number; env: Record<string, string> }[] = [];
    for (const [i, ip] of IPS.entries()) {
      const nginx = startNginx(nginxPath, join(dir.path, `nginx-${i}`));
      nginxes.push(nginx);
      const port = await freePort(ip);
      const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: `bench-${i}`, ip, roles: ['cdn'], agentPort: port }) });
      specs.push({
        token: r.token,
        ip,
        port,
        env: { ...nginx.agentEnv, OCDN_LOG_LEVEL: 'warn', OCDN_RECONNECT_MAX_MS: '1000' },
      });
      agents[i] = startAgentProcess(m.url, r.token, ip, port, specs[i]!.env);
      await waitFor('node normal', async () => (await m!.json(`/api/v1/nodes/${r.node.id}`)).status === 'normal', { timeoutMs: 30_000 });
    }
    const originUrl = `http://127.0.0.1:${(origin.address() as { port: number }).port}`;

    const addMs: number[] = [];
    for (let i = 0; i < adds; i++) {
      const t0 = performance.now();
      const r = await m.json('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: `d${i}.bench.example`, origins: [originUrl] }) });
      await waitFor('ADD_DOMAIN', async () => {
        const p = await m!.json(`/api/v1/pipelines/${r.pipeline.id}`);
        if (p.status === 'failed') throw new Error(JSON.stringify(p.steps));
        return p.status === 'succeeded';
      }, { timeoutMs: 30_000, intervalMs: 5 });
      addMs.push(performance.now() - t0);
    }

    const name = 'd0-bench-example.cdn.ocdn.test';
    const failMs: number[] = [];
    for (let i = 0; i < kills; i++) {
      await waitFor('both addresses published', async () => (await queryA(dnsPort, name)).length === 2, { timeoutMs: 60_000, intervalMs: 50 });
      await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000)); // kill at a random point of the period
      const t0 = performance.now();
      await agents[0]!.kill9();
      await waitFor('address gone', async () => !(await queryA(dnsPort, name)).includes(IPS[0]!), { timeoutMs: 30_000, intervalMs: 10 });
      failMs.push(performance.now() - t0);
      agents[0] = startAgentProcess(m.url, specs[0]!.token, IPS[0]!, specs[0]!.port, specs[0]!.env);
    }

    console.log('\n## bench/cdn — ADD_DOMAIN on 2 real nginx nodes (POST → succeeded), embedded database');
    console.log(row(['domains', 'p50 ms', 'p99 ms', 'max ms']));
    console.log(row([addMs.length, percentile(addMs, 50), percentile(addMs, 99), Math.max(...addMs)]));
    console.log('\n## bench/cdn — failover: agent killed -9 → its address gone from built-in DNS answers (defaults)');
    console.log(row(['kills', 'p50 ms', 'p99 ms', 'max ms']));
    console.log(row([failMs.length, percentile(failMs, 50), percentile(failMs, 99), Math.max(...failMs)]));
  } finally {
    await Promise.all(agents.map((a) => a?.stop()));
    await m?.proc.stop();
    for (const n of nginxes) n.stop();
    origin.close();
    dir.remove();
  }
}

await main();
