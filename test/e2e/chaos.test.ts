// Reliability under faults, with real processes: the manager's PostgreSQL restarted while 50 domains are being
// added (a private cluster this test starts and stops, never the machine's shared one), and a node whose agent is
// up half a second and down half a second for 20 s. Each describe makes its own manager, nodes and nginx.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { startNginx, type NginxInstance } from '../support/nginx.ts';
import { pgBinDir, startPgCluster, type PgCluster } from '../support/pg-cluster.ts';
import { Proc, freePort, startAgentProcess, startManagerProcess, tempDir } from '../support/procs.ts';
import { requireProgram } from '../support/programs.ts';
import { waitFor } from '../support/wait.ts';
import { queryA } from '../support/dns.ts';

/** The stored runs (with their leases, which the API does not show) of some subjects, as psql prints them. */
function leasesOf(url: string, subjects: string[]): string {
  const list = subjects.map((d) => `'${d.replaceAll("'", '')}'`).join(',') || "''";
  const r = spawnSync('psql', [url, '-Atc', `select id, kind, status, lease_owner, lease_until, now(), updated_at from pipelines where subject in (${list})`], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim();
}

/** A CDN fleet: a manager (given its database settings), `ips.length` agents each with a real nginx. */
async function startFleet(tmp: string, nginxPath: string, ips: string[], managerEnv: Record<string, string>) {
  const cdnPort = await freePort();
  const dnsPort = await freePort();
  const m = await startManagerProcess({ ...managerEnv, OCDN_CDN_LISTEN: `{ip}:${cdnPort}`, OCDN_DNS_PORT: String(dnsPort), OCDN_LOG_LEVEL: 'info' });
  const nginxes: NginxInstance[] = [];
  const nodes: { id: string; ip: string; env: Record<string, string>; token: string; port: number; agent: Proc }[] = [];
  for (const [i, ip] of ips.entries()) {
    const nginx = startNginx(nginxPath, join(tmp, `nginx-${i}`));
    nginxes.push(nginx);
    const port = await freePort(ip);
    const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: `edge-${i}`, ip, roles: ['cdn'], agentPort: port }) });
    const env = {
      ...nginx.agentEnv,
      OCDN_RECONNECT_MAX_MS: '1000',
    };
    nodes.push({ id: r.node.id, ip, env, token: r.token, port, agent: startAgentProcess(m.url, r.token, ip, port, env) });
  }
  for (const n of nodes) await waitFor(`${n.ip} normal`, async () => (await m.json(`/api/v1/nodes/${n.id}`)).status === 'normal', { timeoutMs: 30_000 });
  return {
    m,
    nodes,
    dnsPort,
    async stop() {
      await Promise.all(nodes.map((n) => n.agent.stop()));
      await m.proc.stop();
      for (const n of nginxes) n.stop();
    },
  };
}

/**
 * What a fleet's manager says of domains not complete and ADD_DOMAIN runs not ended: its last warnings (cut short),
 * the engine's counts, the runs and their leases — last, where a CI log's tail keeps them.
 */
async function whyNotDone(m: Awaited<ReturnType<typeof startFleet>>['m'], url: string): Promise<string> {
  const list = (await m.json('/api/v1/domains?limit=1000')).items as { domain: string; status: string }[];
  const failed = (await m.json('/api/v1/pipelines?status=failed')).items;
  const stuck: { subject: string }[] = [];
  for (const d of list.filter((x) => x.status !== 'complete')) stuck.push(...(await m.json(`/api/v1/pipelines?subject=${d.domain}&limit=10`)).items);
  stuck.push(...(await m.json('/api/v1/pipelines?kind=ADD_DOMAIN&status=running&limit=10')).items);
  const warnings = m.proc.output
    .split('\n')
    .filter((l) => /"level":(40|50)/.test(l))
    .slice(-30)
    .map((l) => l.slice(0, 400))
    .join('\n');
  const metrics = (await (await fetch(`${m.url}/metrics`)).text())
    .split('\n')
    .filter((l) => /^ocdn_(pipeline_runs_(executing|waiting)|agents_connected|health_ticks_total)/.test(l))
    .join(' ');
  const notComplete = list.filter((d) => d.status !== 'complete').map((d) => `${d.domain}=${d.status}`);
  return [
    warnings,
    `metrics: ${metrics}`,
    `not complete: ${notComplete.join(', ')}; failed: ${JSON.stringify(failed).slice(0, 1500)}`,
    `runs: ${JSON.stringify(stuck).slice(0, 4000)}`,
    `their leases: ${leasesOf(url, [...new Set(stuck.map((p) => p.subject))])}`,
  ].join('\n');
}

describe('reliability under faults', () => {
  describe('PostgreSQL restarted while 50 domains are being added', () => {
    const tmp = tempDir('chaos-pg');
    let pg: PgCluster | undefined;
    let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;
    before(async (t) => {
      const nginxPath = requireProgram(t, 'nginx');
      if (!nginxPath || !requireProgram(t, 'runuser')) return;
      const bin = pgBinDir();
      if (!bin) {
        if (process.env.CI === 'true') throw new Error('missing program: pg_ctl (postgresql) is required under CI=true');
        return;
      }
      pg = await startPgCluster(join(tmp.path, 'pg'), bin);
      fleet = await startFleet(tmp.path, nginxPath, ['127.0.0.71', '127.0.0.72'], { DATABASE_URL: pg.url });
    });
    after(async () => {
      await fleet?.stop();
      pg?.destroy();
      tmp.remove();
    });

    it('the manager keeps answering, reconnects by itself, and every pipeline finishes once', async (t) => {
      if (!fleet || !pg) return t.skip('missing program: nginx or postgresql');
      const { m } = fleet;
      const domains = Array.from({ length: 50 }, (_, i) => `chaos${i}.example.com`);
      // A client that retries what the manager refuses while its database is away (503), as a script would.
      const refusals: number[] = [];
      const add = async (domain: string) => {
        for (;;) {
          // Answered, 202 or 503, within 20 s: a request held longer waits on something that will not come (it would
          // otherwise wait out fetch's five minutes unexplained).
          const r = await m.api('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain, origins: ['http://127.0.0.1:9'] }), signal: AbortSignal.timeout(20_000) }).catch((err: unknown) => {
            throw new Error(`POST ${domain} while the database restarts: ${(err as Error).message}\n${m.proc.output.slice(-6000)}`);
          });
          if (r.status === 202) return;
          const body = await r.text();
          // A POST that reached the database before it went away may have been committed: then it exists (409).
          if (r.status === 409 && /exists already/.test(body)) return;
          assert.equal(r.status, 503, `POST ${domain} while the database restarts: ${r.status} ${body}`);
          refusals.push(r.status);
          await new Promise((res) => setTimeout(res, 200));
        }
      };
      let posted = 0;
      const queue = [...domains];
      const workers = Array.from({ length: 4 }, async () => {
        for (let d = queue.shift(); d; d = queue.shift()) {
          await add(d);
          posted++;
        }
      });
      const allPosted = Promise.all(workers);
      allPosted.catch(() => {}); // awaited below; a failure is reported there
      await waitFor('a third of the domains posted', () => posted >= 15, { timeoutMs: 60_000 });
      pg.stop();
      const health = await waitFor('/healthz says the database is away', async () => {
        const r = await fetch(`${m.url}/healthz`).catch(() => null);
        return r?.status === 503 ? r.status : null;
      }).catch((err) => {
        throw new Error(`${(err as Error).message}; manager running: ${m.proc.running}\n${m.proc.output.slice(-4000)}`);
      });
      assert.equal(health, 503);
      assert.ok(m.proc.running, 'the manager is still running');
      // Away for five seconds while the clients retry: every connection of the manager fails its tries meanwhile.
      const away = Date.now() + 5_000;
      await waitFor('five seconds without the database', async () => {
        await fetch(`${m.url}/healthz`).catch(() => null);
        return Date.now() >= away;
      }, { timeoutMs: 10_000, intervalMs: 200 });
      await pg.start();
      // Back within seconds of the database: the driver's own backoff (up to 20 s a try once its connections had
      // failed a few times together) kept a manager from its database long after it was back.
      await waitFor('/healthz ok within 5 s of the database', async () => (await fetch(`${m.url}/healthz`)).ok, { timeoutMs: 5_000, intervalMs: 100 });
      await allPosted;
      // Every domain complete and every run ended: a run whose last write (its end) met the database away ends when
      // its lease runs out and the orphan scan takes it up again, some seconds after its domain is complete.
      const ended = async () => ((await m.json('/api/v1/pipelines?kind=ADD_DOMAIN&limit=1000')).items as { status: string }[]).every((p) => p.status !== 'pending' && p.status !== 'running');
      await waitFor(
        'every domain complete and every ADD_DOMAIN ended',
        async () => {
          const list = (await m.json('/api/v1/domains?limit=1000')).items as { domain: string; status: string }[];
          return list.length === 50 && list.every((d) => d.status === 'complete') && (await ended());
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      ).catch(async (err) => {
        throw new Error(`${(err as Error).message}\n${await whyNotDone(m, pg!.url)}`);
      });
      const pipelines = (await m.json('/api/v1/pipelines?kind=ADD_DOMAIN&limit=1000')).items as { subject: string; status: string; steps: { status: string }[] }[];
      assert.equal(pipelines.length, 50, 'one ADD_DOMAIN per domain');
      for (const p of pipelines) {
        assert.equal(p.status, 'succeeded', p.subject);
        assert.ok(p.steps.every((s) => s.status === 'succeeded'), `every step of ${p.subject} succeeded`);
      }
      const records = (await m.json('/api/v1/dns/records?limit=1000')).items as { name: string; value: string }[];
      const keys = records.map((r) => `${r.name} ${r.value}`);
      assert.equal(new Set(keys).size, keys.length, 'no duplicate record');
      assert.equal(keys.length, 100, 'each domain on both nodes');
      t.diagnostic(`${refusals.length} requests refused with 503 while the database was away`);
    });
  });

  describe('a flapping node: its agent up 500 ms, down 500 ms, for 20 s', () => {
    const tmp = tempDir('chaos-flap');
    let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;
    let tdb: TestDatabase | undefined;
    before(async (t) => {
      const nginxPath = requireProgram(t, 'nginx');
      if (!nginxPath) return;
      if (process.env.TEST_DATABASE_URL) tdb = await createTestDatabase('postgres');
      fleet = await startFleet(tmp.path, nginxPath, ['127.0.0.73', '127.0.0.74'], tdb?.url ? { DATABASE_URL: tdb.url } : { OCDN_DATA_DIR: join(tmp.path, 'data') });
    });
    after(async () => {
      await fleet?.stop();
      await tdb?.cleanup();
      tmp.remove();
    });

    it('the DNS answer changes a bounded number of times, and no pipeline is left running', async (t) => {
      if (!fleet) return t.skip('missing program: nginx');
      const { m, nodes, dnsPort } = fleet;
      const r = await m.json('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: 'flap.example.com', origins: ['http://127.0.0.1:9'] }) });
      const cname = r.domain.cname as string;
      const both = nodes.map((n) => n.ip).sort();
      await waitFor('both addresses published', async () => JSON.stringify(await queryA(dnsPort, cname)) === JSON.stringify(both), { timeoutMs: 30_000 });

      const flapper = nodes[1]!;
      let changes = 0;
      let last = JSON.stringify(both);
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const now = JSON.stringify(await queryA(dnsPort, cname).catch(() => JSON.parse(last) as string[]));
          if (now !== last) changes++;
          last = now;
          await new Promise((res) => setTimeout(res, 50));
        }
      })();
      const end = Date.now() + 20_000;
      let cycles = 0;
      while (Date.now() < end) {
        await flapper.agent.kill9();
        await new Promise((res) => setTimeout(res, 500)); // down
        flapper.agent = startAgentProcess(m.url, flapper.token, flapper.ip, flapper.port, flapper.env);
        const agent = flapper.agent;
        await waitFor('agent connected', () => agent.output.includes('connected to manager'), { timeoutMs: 10_000, intervalMs: 20 });
        await new Promise((res) => setTimeout(res, 500)); // up
        cycles++;
      }
      watching = false;
      await watcher;
      // Hysteresis: a change needs OCDN_FAULT_AFTER (3) missed or OCDN_RECOVER_AFTER (3) good heartbeat checks in a
      // row, one per second; a fault and its recovery take at least 6 s, so 20 s allow at most 4 changes.
      assert.ok(changes <= 4, `the answer changed ${changes} times in ${cycles} flaps`);
      await waitFor(
        'no pipeline left running, and both addresses back',
        async () => {
          const running = [...(await m.json('/api/v1/pipelines?status=running')).items, ...(await m.json('/api/v1/pipelines?status=pending')).items];
          return running.length === 0 && JSON.stringify(await queryA(dnsPort, cname)) === JSON.stringify(both);
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      const node = await m.json(`/api/v1/nodes/${flapper.id}`);
      assert.equal(node.status, 'normal');
      t.diagnostic(`${cycles} flaps, the answer changed ${changes} times`);
    });
  });
});
