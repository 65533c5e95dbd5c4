// An agent given several manager URLs (OCDN_MANAGER_URL, comma-separated): it skips a replica that does not answer,
// and when the replica holding its link dies (kill -9) it holds a link to another one — no load balancer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { Proc, freePort, startAgentProcess, startManagerProcess, type ManagerHandle } from '../support/procs.ts';
import { waitFor } from '../support/wait.ts';

/** Two manager replicas on one fresh PostgreSQL database for the suite, and the agent a test starts; all stopped after. */
function twoReplicas(): { managers: ManagerHandle[]; agent: { proc?: Proc } } {
  let tdb: TestDatabase;
  const managers: ManagerHandle[] = [];
  const agent: { proc?: Proc } = {};
  before(async () => {
    tdb = await createTestDatabase('postgres');
    for (let i = 0; i < 2; i++) managers.push(await startManagerProcess({ DATABASE_URL: tdb.url!, OCDN_LOG_LEVEL: 'info' }));
  });
  after(async () => {
    await agent.proc?.stop();
    for (const m of managers) await m.proc.stop();
    await tdb.cleanup();
  });
  return { managers, agent };
}

describe('an agent with a list of manager replicas (PostgreSQL)', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL' }, () => {
  const { managers, agent } = twoReplicas();

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
    const proc = (agent.proc = startAgentProcess(`${nobody},${a.url},${b.url}`, r.token, ip, port));
    await waitFor('the node normal', async () => (await b.json(`/api/v1/nodes/${r.node.id}`)).status === 'normal', { timeoutMs: 20_000 });
    const holder = await waitFor('a replica holding the link', async () => ((await connectedAt(a)) === 1 ? a : (await connectedAt(b)) === 1 ? b : null));
    const other = holder === a ? b : a;
    const t0 = Date.now();
    await holder.proc.kill9();
    await waitFor('the agent linked to the other replica', async () => (await connectedAt(other)) === 1, { timeoutMs: 10_000, intervalMs: 20 });
    const ms = Date.now() - t0;
    console.log(`# agent relinked to the other replica ${ms} ms after kill -9 of its replica`);
    assert.match(proc.output, /trying the next manager replica/);
    // The node stays in service: heartbeats reach the surviving replica.
    await waitFor('a fresh heartbeat on the surviving replica', async () => {
      const n = await other.json(`/api/v1/nodes/${r.node.id}`);
      return n.connected && n.status === 'normal' && Date.parse(n.lastHeartbeatAt) > t0;
    });
  });
});

describe('a replica killed -9 mid-pipeline (PostgreSQL)', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL' }, () => {
  const { managers, agent } = twoReplicas();

  it('the other replica resumes its run and leads its loops, told by the dead session, not by a lease running out', async () => {
    const [a, b] = managers as [ManagerHandle, ManagerHandle];
    // The replica that leads the health monitor is the one to kill: its loops must move too.
    const leads = (m: ManagerHandle) => m.proc.output.includes('"loop":"health monitor"') && /"loop":"health monitor"[^\n]*this replica leads the loop/.test(m.proc.output);
    const victim = await waitFor('a health monitor leader', async () => (leads(a) ? a : leads(b) ? b : null));
    const survivor = victim === a ? b : a;
    const ip = '127.0.0.85';
    const port = await freePort(ip);
    // ADD_NODE made on the victim waits for an agent that is not there yet: the victim holds the run's lease.
    const r = await victim.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: 'orphan', ip, roles: ['cdn'], agentPort: port }) });
    await waitFor('ADD_NODE running on the victim, waiting for the agent', async () => {
      const run = await survivor.json(`/api/v1/pipelines/${r.pipeline.id}`);
      return run.status === 'running' && run.steps[0].attempts >= 2;
    });
    const t0 = Date.now();
    await victim.proc.kill9();
    await waitFor('the survivor takes the run over', async () => survivor.proc.output.includes('a replica is gone (its database session ended); taking its runs over'), { timeoutMs: 10_000, intervalMs: 20 });
    const takeoverMs = Date.now() - t0;
    await waitFor('the survivor leads the health monitor', async () => leads(survivor), { timeoutMs: 10_000, intervalMs: 20 });
    const leadMs = Date.now() - t0;
    console.log(`# run taken over ${takeoverMs} ms and the health monitor led ${leadMs} ms after kill -9 (the lease alone: 10 s)`);
    agent.proc = startAgentProcess(`${victim.url},${survivor.url}`, r.token, ip, port);
    const run = await waitFor('ADD_NODE succeeded on the survivor', async () => {
      const p = await survivor.json(`/api/v1/pipelines/${r.pipeline.id}`);
      return p.status === 'succeeded' ? p : null;
    }, { timeoutMs: 30_000 });
    assert.ok(run.steps.every((s: { status: string }) => s.status === 'succeeded'));
    assert.equal((await survivor.json(`/api/v1/nodes/${r.node.id}`)).status, 'normal');
  });
});
