// bench/rollout: N domains onto M agents whose nginx commands only record the call (real agent processes, real
// manager, embedded database). Reports the time until every ADD_DOMAIN succeeded and the reloads per node.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle, type Proc } from '../../test/support/procs.ts';
import { waitFor } from '../../test/support/wait.ts';
import { row } from '../lib.ts';

const domainCount = Number(process.env.BENCH_ROLLOUT_DOMAINS ?? 1000);
const agentCount = Number(process.env.BENCH_ROLLOUT_AGENTS ?? 50);

async function main(): Promise<void> {
  const dir = tempDir('bench-rollout');
  let m: ManagerHandle | undefined;
  const agents: Proc[] = [];
  try {
    // BENCH_ROLLOUT_DATABASE_URL runs the manager on PostgreSQL instead of the embedded database.
    const dbUrl = process.env.BENCH_ROLLOUT_DATABASE_URL;
    m = await startManagerProcess({ ...(dbUrl ? { DATABASE_URL: dbUrl } : { OCDN_DATA_DIR: join(dir.path, 'data') }), OCDN_LOG_LEVEL: 'warn' });
    const recs: string[] = [];
    for (let i = 0; i < agentCount; i++) {
      const ip = `127.0.2.${i + 1}`;
      const port = await freePort(ip);
      const rec = join(dir.path, `reloads-${i}`);
      recs.push(rec);
      const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: `roll-${i}`, ip, roles: ['cdn'], agentPort: port }) });
      agents.push(
        startAgentProcess(m.url, r.token, ip, port, {
          OCDN_NGINX_CONF_DIR: join(dir.path, `conf-${i}`),
          OCDN_NGINX_CACHE_DIR: join(dir.path, `cache-${i}`),
          OCDN_NGINX_TEST_CMD: 'true',
          // no spaces inside the script: commands are split on spaces, never run through a shell
          OCDN_NGINX_RELOAD_CMD: `${process.execPath} -e require("fs").appendFileSync(${JSON.stringify(rec)},"r\\n")`,
          OCDN_LOG_LEVEL: 'warn',
        }),
      );
    }
    await waitFor('agents normal', async () => (await m!.json('/api/v1/nodes')).items.every((n: { status: string }) => n.status === 'normal'), { timeoutMs: 120_000, intervalMs: 250 });

    const t0 = performance.now();
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < domainCount) {
          const i = next++;
          const r = await m!.json('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: `r${i}.rollout.example`, origins: ['http://127.0.0.1:9'] }) });
          ids.push(r.pipeline.id);
        }
      }),
    );
    const postedS = (performance.now() - t0) / 1000;
    await waitFor(
      'every ADD_DOMAIN to succeed',
      async () => {
        const failed = (await m!.json('/api/v1/pipelines?kind=ADD_DOMAIN&status=failed&limit=1')).items;
        if (failed.length) throw new Error(`a pipeline failed: ${JSON.stringify(failed[0].steps.filter((s: { error: unknown }) => s.error))}`);
        const open = [...(await m!.json('/api/v1/pipelines?kind=ADD_DOMAIN&status=running&limit=1')).items, ...(await m!.json('/api/v1/pipelines?kind=ADD_DOMAIN&status=pending&limit=1')).items];
        return open.length === 0;
      },
      { timeoutMs: 3_600_000, intervalMs: 1000 },
    );
    const totalS = (performance.now() - t0) / 1000;
    const reloads = recs.map((r) => (existsSync(r) ? readFileSync(r, 'utf8').split('\n').filter(Boolean).length : 0));
    const windows = Math.ceil((totalS * 1000) / 100); // 100 ms coalescing window
    console.log(`\n## bench/rollout — ${domainCount} domains onto ${agentCount} agents (reload only recorded), ${dbUrl ? 'PostgreSQL' : 'embedded database'}`);
    console.log(row(['domains', 'agents', 'posted s', 'all done s', 'reloads/node max', 'avg', 'windows']));
    console.log(row([domainCount, agentCount, postedS, totalS, Math.max(...reloads), reloads.reduce((a, b) => a + b, 0) / reloads.length, windows]));
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await m?.proc.stop();
    dir.remove();
  }
}

await main();
