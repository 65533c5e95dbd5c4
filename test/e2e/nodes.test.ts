import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { Proc, MANAGER_JS, freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle } from '../support/procs.ts';
import { waitFor } from '../support/wait.ts';
import { connectionTo, resetConnection } from '../support/tcp.ts';

/**
 * The foundation, end to end with real processes: the built manager, agent bundles on their own loopback
 * addresses, kill -9 of an agent and of the manager. Runs on PostgreSQL when TEST_DATABASE_URL is set, else on
 * the embedded database.
 */
describe('nodes end to end', () => {
  const backend = process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite';
  const dataDir = tempDir('e2e-nodes');
  let tdb: TestDatabase | undefined;
  let managerEnv: Record<string, string>;
  let m: ManagerHandle;
  const agents = new Map<string, Proc>();
  const registered = new Map<string, { id: string; token: string; ip: string; port: number }>();

  const node = (id: string) => m.json(`/api/v1/nodes/${id}`);
  const register = async (name: string, ip: string) => {
    const port = await freePort(ip);
    const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name, ip, roles: ['cdn'], agentPort: port }) });
    const entry = { id: r.node.id as string, token: r.token as string, ip, port };
    registered.set(name, entry);
    return { ...entry, pipelineId: r.pipeline.id as string };
  };
  const startAgent = (name: string) => {
    const n = registered.get(name)!;
    const p = startAgentProcess(m.url, n.token, n.ip, n.port, { OCDN_RECONNECT_MAX_MS: '2000' });
    agents.set(name, p);
    return p;
  };
  /** A node of the test's own with its agent running and normal; stopped and removed after the test. */
  const liveNode = async (t: { after(fn: () => Promise<void>): void }, name: string, ip: string) => {
    const n = await register(name, ip);
    t.after(async () => {
      await agents.get(name)?.stop();
      const r = await m.api(`/api/v1/nodes/${n.id}`, { method: 'DELETE' });
      if (r.status === 202) {
        const { pipeline } = (await r.json()) as { pipeline: { id: string } };
        await waitFor('REMOVE_NODE', async () => (await m.json(`/api/v1/pipelines/${pipeline.id}`)).status !== 'running');
      }
    });
    startAgent(name);
    await statusIs(n.id, 'normal');
    return n;
  };
  /** Health ticks this manager has run (not skipped as overloaded). */
  const checkedTicks = async () => Number(/^ocdn_health_ticks_total\{outcome="checked"\} (\d+)/m.exec(await (await fetch(`${m.url}/metrics`)).text())?.[1] ?? 0);
  /** Two health checks later, node `id` is normal, no FAULT_NODE ran for it and the log never says `blame` of it. */
  const staysNormal = async (id: string, blame: string) => {
    const before = await checkedTicks();
    await waitFor('two more health ticks', async () => (await checkedTicks()) >= before + 2, { timeoutMs: 10_000 });
    assert.doesNotMatch(m.proc.output, new RegExp(`"nodeId":"${id}"[^\n]*(${blame})`));
    assert.equal((await node(id)).status, 'normal');
    assert.equal((await m.json(`/api/v1/pipelines?kind=FAULT_NODE&subject=${id}`)).items.length, 0);
  };
  const statusIs = (id: string, status: string, timeoutMs = 15_000) =>
    waitFor(`node ${id} ${status}`, async () => (await node(id)).status === status, { timeoutMs, intervalMs: 25 });

  before(async () => {
    if (backend === 'postgres') tdb = await createTestDatabase('postgres');
    managerEnv = tdb?.url ? { DATABASE_URL: tdb.url } : { OCDN_DATA_DIR: dataDir.path };
    m = await startManagerProcess(managerEnv);
  });

  after(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await m?.proc.stop();
    await tdb?.cleanup();
    dataDir.remove();
  });

  it('brings two agents on 127.0.0.2 and 127.0.0.3 to normal', async (t) => {
    const a = await liveNode(t, 'edge-a', '127.0.0.2');
    const b = await liveNode(t, 'edge-b', '127.0.0.3');
    const na = await node(a.id);
    assert.equal(na.connected, true);
    assert.equal((await node(b.id)).connected, true);
    assert.equal(na.agentVersion, '0.1.0');
    // The node is normal once the last step ran; the run itself is marked succeeded right after.
    const run = await waitFor('ADD_NODE succeeded', async () => {
      const p = await m.json(`/api/v1/pipelines/${a.pipelineId}`);
      return p.status === 'succeeded' ? p : null;
    });
    assert.deepEqual(run.steps.map((s: { status: string }) => s.status), ['succeeded', 'succeeded']);
  });

  it("guards the agent's HTTP API with the node token", async (t) => {
    const a = await liveNode(t, 'guard-a', '127.0.0.10');
    const b = await liveNode(t, 'guard-b', '127.0.0.11');
    const base = `http://${a.ip}:${a.port}`;
    assert.equal((await fetch(`${base}/heartbeat`)).status, 401);
    assert.equal((await fetch(`${base}/heartbeat`, { headers: { authorization: `Bearer ${b.token}` } })).status, 401, 'another node\'s token');
    const ok = await fetch(`${base}/heartbeat`, { headers: { authorization: `Bearer ${a.token}` } });
    assert.equal(ok.status, 200);
    const beat = (await ok.json()) as { nodeId: string; roles: string[] };
    assert.equal(beat.nodeId, a.id);
    assert.deepEqual(beat.roles, ['cdn']);
  });

  it('marks a kill -9ed agent fault at once (its socket closed and a probe was refused), and normal again after restart', async (t) => {
    const a = await liveNode(t, 'fault-a', '127.0.0.12');
    const b = await liveNode(t, 'fault-b', '127.0.0.13');
    const killedAt = Date.now();
    await agents.get('fault-a')!.kill9();
    await statusIs(a.id, 'fault', 20_000);
    const detectMs = Date.now() - killedAt;
    // Event order, not a stopwatch: the closed socket and the refused probe were the evidence, declared once.
    const lines = m.proc.output.split('\n').filter((l) => l.includes(a.id));
    const closed = lines.findIndex((l) => l.includes("agent's socket closed and the agent does not answer"));
    const declared = lines.filter((l) => l.includes('node failed its heartbeats')).map((l) => JSON.parse(l) as { misses: number });
    assert.ok(closed >= 0, `fault after ${detectMs} ms without the socket evidence:\n${lines.join('\n')}`);
    // The evidence was the agent's host answering that nothing serves there, not an HTTP request timing out. Usually
    // the port probe is refused; when it lands while the dying process still holds its listening socket (the kernel
    // closes a killed process's sockets one by one), the heartbeat's own connect right after is refused — or, queued
    // on that listening socket a moment before it closed, reset.
    assert.match(lines[closed]!, /nothing answers a connection to its port \(refused\)|unreachable: (ECONNREFUSED|ECONNRESET)/);
    assert.ok(closed < lines.findIndex((l) => l.includes('node failed its heartbeats')));
    assert.deepEqual(declared.map((d) => d.misses), [3], `fault after ${detectMs} ms`);
    assert.equal((await node(b.id)).status, 'normal', 'the other node is untouched');
    const dead = await node(a.id);
    assert.equal(dead.connected, false);
    assert.ok(dead.lastHeartbeatAt && Date.now() - Date.parse(dead.lastHeartbeatAt) < 10_000, 'last heartbeat kept');
    assert.equal(dead.agentVersion, '0.1.0');
    const faults = await m.json(`/api/v1/pipelines?kind=FAULT_NODE&subject=${a.id}`);
    assert.equal(faults.items.length, 1);

    startAgent('fault-a');
    await statusIs(a.id, 'normal');
    const recovers = await waitFor('RECOVER_NODE succeeded', async () => {
      const r = await m.json(`/api/v1/pipelines?kind=RECOVER_NODE&subject=${a.id}`);
      return r.items.length > 0 && r.items.every((p: { status: string }) => p.status === 'succeeded') ? r : null;
    });
    assert.equal(recovers.items.length, 1);
  });

  it('marks a frozen agent (SIGSTOP, socket open) fault once silent for fault-after periods, and normal after SIGCONT', async (t) => {
    const a = await liveNode(t, 'frozen-a', '127.0.0.18');
    const agent = agents.get('frozen-a')!;
    const stoppedAt = Date.now();
    agent.child.kill('SIGSTOP');
    t.after(() => {
      agent.child.kill('SIGCONT');
    });
    await statusIs(a.id, 'fault', 20_000);
    const silentMs = Date.now() - stoppedAt;
    // Hysteresis kept: not before OCDN_FAULT_AFTER (3) heartbeat periods (1 s) of silence.
    assert.ok(silentMs >= 3000 - 1000, `fault after ${silentMs} ms of silence`);
    assert.match(m.proc.output, new RegExp(`"nodeId":"${a.id}"[^\n]*agent's socket is open but silent`));
    agent.child.kill('SIGCONT');
    await statusIs(a.id, 'normal');
  });

  it("does not blame a beating agent for the manager's own stall (a heartbeat unread when the silence timer fires)", async (t) => {
    const a = await liveNode(t, 'stall-a', '127.0.0.19');
    const agent = agents.get('stall-a')!.child;
    const manager = m.proc.child;
    t.after(() => {
      manager.kill('SIGCONT');
      agent.kill('SIGCONT');
    });
    // The agent goes quiet long enough for the monitor to arm its silence timer: fault-after (3) periods (1 s) and
    // 250 ms after the last frame read, which an idle manager read as it was sent.
    agent.kill('SIGSTOP');
    const due = Date.now() - (await connectionTo(agent.pid!, m.port)).msSinceLastSend + 3 * 1000 + 250;
    // Then the manager's thread stops (as in a long busy stretch); meanwhile the agent wakes and beats into the
    // manager's socket, and the manager resumes just after the timer's due time, within its lateness slack.
    const at = (ms: number) => sleep(Math.max(0, ms - Date.now()));
    await at(due - 900);
    manager.kill('SIGSTOP');
    await at(due - 700);
    agent.kill('SIGCONT');
    await at(due + 80);
    manager.kill('SIGCONT');
    // The heartbeat waiting in the socket is read before the verdict.
    await staysNormal(a.id, 'open but silent|node failed its heartbeats');
  });

  it("leaves it to the checks when an agent's socket drops while its process is alive but slow", async (t) => {
    const a = await liveNode(t, 'slow-a', '127.0.0.20');
    const agent = agents.get('slow-a')!.child;
    t.after(() => agent.kill('SIGCONT'));
    const { localPort } = await connectionTo(agent.pid!, m.port);
    // The agent's process is stopped (its port still accepts connections) and its link breaks on the path.
    agent.kill('SIGSTOP');
    await resetConnection(localPort, m.port);
    await waitFor('the probe of the closed socket', () => new RegExp(`"nodeId":"${a.id}"[^\n]*heartbeat is slow; the next checks decide`).test(m.proc.output));
    // It resumes before three checks have missed it: it reconnects and stays normal.
    agent.kill('SIGCONT');
    await waitFor('reconnected', async () => (await node(a.id)).connected === true);
    await staysNormal(a.id, 'does not answer|node failed its heartbeats');
  });

  it('finishes an ADD_NODE once after the manager is killed -9 while it waits, and agents reconnect', async (t) => {
    const others = [await liveNode(t, 'crash-a', '127.0.0.14'), await liveNode(t, 'crash-b', '127.0.0.15')];
    const c = await register('edge-c', '127.0.0.4');
    t.after(() => agents.get('edge-c')!.stop());
    await waitFor('ADD_NODE waiting for the agent', async () => {
      const run = await m.json(`/api/v1/pipelines/${c.pipelineId}`);
      return run.status === 'running' && run.steps[0].attempts >= 2;
    });
    await m.proc.kill9();
    m = await startManagerProcess({ ...managerEnv, OCDN_HTTP_PORT: String(m.port) });
    startAgent('edge-c');
    await statusIs(c.id, 'normal', 30_000);
    const runs = await waitFor('ADD_NODE succeeded', async () => {
      const r = await m.json(`/api/v1/pipelines?kind=ADD_NODE&subject=${c.id}`);
      return r.items.every((p: { status: string }) => p.status === 'succeeded') ? r : null;
    });
    assert.equal(runs.items.length, 1, 'one ADD_NODE run');
    assert.equal(runs.items[0].steps[1].attempts, 1, 'OCDN_NODE_STATUS ran once');
    for (const { id } of others) {
      await waitFor(`${id} reconnected`, async () => (await node(id)).connected === true, { timeoutMs: 15_000 });
      assert.equal((await node(id)).status, 'normal');
    }
  });

  it('removes a node: REMOVE_NODE ends in delete and the agent is disconnected', async (t) => {
    const c = await liveNode(t, 'leaving', '127.0.0.16');
    const r = await m.json(`/api/v1/nodes/${c.id}`, { method: 'DELETE' });
    await waitFor('REMOVE_NODE', async () => (await m.json(`/api/v1/pipelines/${r.pipeline.id}`)).status === 'succeeded');
    const n = await node(c.id);
    assert.equal(n.status, 'delete');
    await waitFor('agent disconnected', async () => (await node(c.id)).connected === false);
  });

  it('stops an agent cleanly on SIGTERM', async (t) => {
    await liveNode(t, 'sigterm', '127.0.0.17');
    const p = agents.get('sigterm')!;
    p.child.kill('SIGTERM');
    const code = await p.exited;
    // 0: it closed its link and HTTP API itself (a stop that hangs is cut off after 10 s with exit code 1).
    assert.equal(code, 0);
    assert.match(p.output, /"signal":"SIGTERM"/);
  });

  it('refuses a second manager on the same embedded data directory', async () => {
    const dir = tempDir('e2e-lock');
    const first = await startManagerProcess({ OCDN_DATA_DIR: dir.path });
    try {
      const second = new Proc('manager-2', [MANAGER_JS], { OCDN_DATA_DIR: dir.path, OCDN_HTTP_PORT: String(await freePort()), OCDN_ADMIN_TOKEN: 'another-token-0123456789' });
      const code = await second.exited;
      assert.notEqual(code, 0);
      assert.match(second.output, /another manager \(pid \d+\) is using the data directory/);
      assert.equal((await fetch(`${first.url}/healthz`)).status, 200);
    } finally {
      await first.proc.stop();
      dir.remove();
    }
  });
});
