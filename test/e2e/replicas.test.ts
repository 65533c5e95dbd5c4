// An agent given several manager URLs (OCDN_MANAGER_URL, comma-separated): it skips a replica that does not answer,
// and when the replica holding its link dies (kill -9) it holds a link to another one — no load balancer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { Proc, freePort, startAgentProcess, startManagerProcess, type ManagerHandle } from '../support/procs.ts';
import { waitFor } from '../support/wait.ts';

describe('an agent with a list of manager replicas (PostgreSQL)', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL' }, () => {
  let tdb: TestDatabase;
  const managers: ManagerHandle[] = [];
  let agent: Proc | undefined;

  before(async () => {
    tdb = await createTestDatabase('postgres');
    for (let i = 0; i < 2; i++) managers.push(await startManagerProcess({ DATABASE_URL: tdb.url!, OCDN_LOG_LEVEL: 'info' }));
  });
  after(async () => {
    await agent?.stop();
    for (const m of managers) await m.proc.stop();
    await tdb.cleanup();
  });

  const connectedAt = async (m: ManagerHandle) => {
    const r = await fetch(`${m.url}/healthz`).catch(() => null);
    return r?.ok ? ((await r.json()) as { agentsConnected: number }).agentsConnected : -1;
  };

  it('skips a replica that does not answer, and moves to another when its replica dies', async () => {
    const [a, b] = managers as [ManagerHandle, ManagerHandle];
    const ip = '127.0.0.84';
    const port = await freePort(ip);
    const r = await a.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: 'roamer', ip, roles: ['cdn'], agentPort: port }) });
    const nobody = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    agent = startAgentProcess(`${nobody},${a.url},${b.url}`, r.token, ip, port);
    await waitFor('the node normal', async () => (await b.json(`/api/v1/nodes/${r.node.id}`)).status === 'normal', { timeoutMs: 20_000 });
    const holder = await waitFor('a replica holding the link', async () => ((await connectedAt(a)) === 1 ? a : (await connectedAt(b)) === 1 ? b : null));
    const other = holder === a ? b : a;
    const t0 = Date.now();
    await holder.proc.kill9();
    await waitFor('the agent linked to the other replica', async () => (await connectedAt(other)) === 1, { timeoutMs: 10_000, intervalMs: 20 });
    const ms = Date.now() - t0;
    console.log(`# agent relinked to the other replica ${ms} ms after kill -9 of its replica`);
    assert.match(agent.output, /trying the next manager replica/);
    // The node stays in service: heartbeats reach the surviving replica.
    await waitFor('a fresh heartbeat on the surviving replica', async () => {
      const n = await other.json(`/api/v1/nodes/${r.node.id}`);
      return n.connected && n.status === 'normal' && Date.parse(n.lastHeartbeatAt) > t0;
    });
  });
});
