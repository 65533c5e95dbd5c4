import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { freePort, startAgentProcess, type Proc } from '../../../test/support/procs.ts';
import { requireProgram } from '../../../test/support/programs.ts';
import { schedOf } from '../../../test/support/sched.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { nodes } from '../src/db/schema.ts';
import { startHarness, type Harness } from './harness.ts';

const run = promisify(execFile);

/** Established connections of this process to `ip:port`, read with `ss`: the watch's stream, and the keep-alive
 * connection the pipelines' calls to the agent's HTTP API may hold. */
async function connectionsTo(ip: string, port: number): Promise<number> {
  const { stdout } = await run('ss', ['-tnHp', 'state', 'established', 'dst', `${ip}:${port}`]);
  return stdout.split('\n').filter((l) => l.includes(`pid=${process.pid},`)).length;
}

/** `ocdn_health_watch_streams` from the manager's /metrics. */
async function watchStreams(h: Harness): Promise<number> {
  const text = await (await fetch(`${h.manager.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('ocdn_health_watch_streams '));
  assert.ok(line, 'ocdn_health_watch_streams is in /metrics');
  return Number(line.split(' ')[1]);
}

/** `ocdn_health_probes_total{via,outcome}` from the manager's /metrics (0 before the first). */
async function probes(h: Harness, via: 'watch' | 'manager', outcome: 'ok' | 'failed'): Promise<number> {
  const text = await (await fetch(`${h.manager.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`ocdn_health_probes_total{via="${via}",outcome="${outcome}"} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Waits until the watch thread holds the agent's stream: it says so, and the connection is there. */
async function streamOpen(h: Harness, ip: string, port: number): Promise<void> {
  await waitFor('the watch stream open', async () => (await watchStreams(h)) === 1 && (await connectionsTo(ip, port)) >= 1);
}

/**
 * The health watch thread (OCDN_HEALTH_WATCH=thread) decides a dead agent on its own: proved by holding the
 * manager's own thread (this test's: the manager runs in-process) in a synchronous loop from the kill until the node
 * reads `fault` in the database, read by psql, a process of its own. With the watch off, the decision waits for the
 * manager's thread, and the same loop runs out its time.
 */
describe('health watch thread', () => {
  const agents: Proc[] = [];
  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
  });

  /** A manager with one normal node; its agent at `ip`. */
  const setup = async (t: { after(fn: () => Promise<void>): void }, ip: string, env: Record<string, string>, backend: 'postgres' | 'pglite' = 'postgres') => {
    const h: Harness = await startHarness(backend, { OCDN_HTTP_HOST: '127.0.0.1', ...env }, { listen: true });
    let closed: Promise<void> | undefined;
    const close = () => (closed ??= h.close());
    t.after(close);
    const port = await freePort(ip);
    const r = await h.call('POST', '/api/v1/nodes', { name: `watch-${ip}`, ip, roles: ['cdn'], agentPort: port });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const agent = startAgentProcess(h.manager.url, r.body.token, ip, port);
    agents.push(agent);
    const id = r.body.node.id as string;
    await waitFor('node normal', async () => (await h.call('GET', `/api/v1/nodes/${id}`)).body.status === 'normal', { timeoutMs: 20_000 });
    return { h, id, ip, port, agent, close, token: r.body.token as string };
  };

  /**
   * Kills the agent and holds this thread (the manager's) until psql reads the node `fault`, or `ms` pass. Returns
   * the milliseconds it took, or null.
   */
  const faultWhileHeld = (url: string, agent: Proc, id: string, ms: number): number | null => {
    const t0 = Date.now();
    agent.child.kill('SIGKILL');
    while (Date.now() - t0 < ms) {
      const status = execFileSync('psql', [url, '-Atc', `select status from nodes where id = '${id}'`], { encoding: 'utf8' }).trim();
      if (status === 'fault') return Date.now() - t0;
    }
    return null;
  };

  it("writes a killed agent's node fault and its FAULT_NODE run while the manager's thread is held", async (t) => {
    if (!process.env.TEST_DATABASE_URL) return t.skip('needs TEST_DATABASE_URL (PostgreSQL)');
    if (!requireProgram(t, 'psql') || !requireProgram(t, 'ss')) return;
    const { h, id, ip, port, agent } = await setup(t, '127.0.0.41', {});
    await streamOpen(h, ip, port);
    if (process.getuid?.() === 0 || process.env.CI) {
      // at the built-in DNS's priority (OCDN_DNS_NICE -10, OCDN_DNS_RT_PRIORITY 1), its own thread alone
      // The thread says its id in a message posted before it opens any stream; this thread may read the stream's
      // state (ss) before that message.
      const tid = await waitFor("the watch thread's id", () => h.manager.loops.health.watchThreadId);
      assert.notEqual(tid, process.pid);
      assert.deepEqual(schedOf(`/proc/self/task/${tid}/stat`), { nice: -10, policy: 2, rtPriority: 1 });
    }
    const tookMs = faultWhileHeld(h.url!, agent, id, 5_000);
    assert.ok(tookMs !== null, 'the node was still normal after 5 s of the manager thread held');
    // Once the thread is free, the run the watch thread wrote is executed here, once.
    await waitFor('FAULT_NODE succeeded', async () => {
      const runs = (await h.call('GET', `/api/v1/pipelines?kind=FAULT_NODE&subject=${id}`)).body.items as { status: string }[];
      return runs.length === 1 && runs[0]!.status === 'succeeded';
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(((await h.call('GET', `/api/v1/pipelines?kind=FAULT_NODE&subject=${id}`)).body.items as unknown[]).length, 1, 'one run, though the agent link closed too');
  });

  it("leaves the decision to the manager's thread with OCDN_HEALTH_WATCH=off", async (t) => {
    if (!process.env.TEST_DATABASE_URL) return t.skip('needs TEST_DATABASE_URL (PostgreSQL)');
    if (!requireProgram(t, 'psql') || !requireProgram(t, 'ss')) return;
    const { h, id, agent } = await setup(t, '127.0.0.42', { OCDN_HEALTH_WATCH: 'off' });
    assert.equal(await watchStreams(h), 0, 'no stream is held');
    assert.equal(faultWhileHeld(h.url!, agent, id, 2_000), null, 'nothing decided while the thread was held');
    await waitFor('node fault', async () => (await h.call('GET', `/api/v1/nodes/${id}`)).body.status === 'fault');
  });

  it('holds a stream on the embedded database by default (OCDN_HEALTH_WATCH=auto), and stops with the agent connected', async (t) => {
    if (!requireProgram(t, 'ss')) return;
    const { h, ip, port, close } = await setup(t, '127.0.0.43', {}, 'pglite');
    await streamOpen(h, ip, port);
    // The agent's WebSocket is still open: the manager's stop closes it rather than wait for it (it once waited forever).
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([close().then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), 10_000)))]);
    clearTimeout(timer);
    assert.ok(stopped, 'the manager did not stop within 10 s with an agent connected');
  });

  it('lets go of a deleted node\'s stream while its agent still runs, and decides nothing about it', async (t) => {
    if (!requireProgram(t, 'ss')) return;
    const { h, id, ip, port, agent } = await setup(t, '127.0.0.45', {}, 'pglite');
    await streamOpen(h, ip, port);
    // The thread is told what changed in the node list (the node left it), not the whole list again.
    assert.equal((await h.call('DELETE', `/api/v1/nodes/${id}`)).status, 202);
    await waitFor('the stream closed', async () => (await watchStreams(h)) === 0 && (await connectionsTo(ip, port)) === 0);
    assert.ok(agent.running, "the agent's process still runs: the stream was let go, not lost");
    const runs = (await h.call('GET', `/api/v1/pipelines?kind=FAULT_NODE&subject=${id}`)).body.items as unknown[];
    assert.equal(runs.length, 0, 'no FAULT_NODE for a node that was deleted');
  });

  for (const [backend, ip] of [['pglite', '127.0.0.46'], ['postgres', '127.0.0.47']] as const) {
    it(`reads a fleet of over a thousand nodes in pages and watches the one read last (${backend})`, async (t) => {
      if (backend === 'postgres' && !process.env.TEST_DATABASE_URL) return t.skip('needs TEST_DATABASE_URL (PostgreSQL)');
      if (!requireProgram(t, 'ss')) return;
      // 1,500 faulty nodes whose ids sort before any the API makes: the node list is read 1,000 at a time, and the
      // agent's node comes in the second page.
      const h: Harness = await startHarness(backend, { OCDN_HTTP_HOST: '127.0.0.1' }, { listen: true });
      t.after(() => h.close());
      const fleet = Array.from({ length: 1_500 }, (_, i) => ({
        id: `nod_0000${String(i).padStart(8, '0')}`,
        name: `fleet-${i}`,
        ip: `127.3.${i >> 8}.${i & 255}`,
        roles: ['cdn' as const],
        agentPort: 9,
        status: 'fault' as const,
        token: `tok-${i}`,
        tokenHash: `hash-${i}`,
      }));
      await h.database.db.insert(nodes).values(fleet);
      const port = await freePort(ip);
      const r = await h.call('POST', '/api/v1/nodes', { name: 'watch-last', ip, roles: ['cdn'], agentPort: port });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.ok(r.body.node.id > fleet.at(-1)!.id, 'the agent\'s node sorts after the fleet');
      agents.push(startAgentProcess(h.manager.url, r.body.token, ip, port));
      await waitFor('node normal', async () => (await h.call('GET', `/api/v1/nodes/${r.body.node.id}`)).body.status === 'normal', { timeoutMs: 20_000 });
      await streamOpen(h, ip, port);
    });
  }

  it('probes a node whose agent has no link to the manager on the watch thread, faulty when it stops answering and until it recovers', async (t) => {
    // After a manager restart every agent is without its link for a while: their nodes' heartbeats are asked over
    // the agents' HTTP APIs, by the watch thread rather than the manager's. This agent never links (its manager URL
    // is a port where nothing listens) and is reached over HTTP alone.
    const h: Harness = await startHarness('pglite', { OCDN_HTTP_HOST: '127.0.0.1', OCDN_HEARTBEAT_INTERVAL_MS: '300' }, { listen: true });
    t.after(() => h.close());
    const ip = '127.0.0.48';
    const port = await freePort(ip);
    const r = await h.call('POST', '/api/v1/nodes', { name: 'unlinked', ip, roles: ['cdn'], agentPort: port });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.node.id as string;
    const agent = startAgentProcess(`http://127.0.0.1:${await freePort('127.0.0.1')}`, r.body.token, ip, port);
    agents.push(agent);
    t.after(() => void agent.child.kill('SIGCONT'));
    await waitFor('node normal', async () => (await h.call('GET', `/api/v1/nodes/${id}`)).body.status === 'normal', { timeoutMs: 20_000 });
    await waitFor('five probes answered on the watch thread', async () => (await probes(h, 'watch', 'ok')) >= 5);
    assert.equal(h.manager.ctx.hub.get(id)?.open ?? false, false, 'the agent has no link');
    assert.equal(await probes(h, 'manager', 'ok'), 0, "none made on the manager's thread");
    assert.equal(await probes(h, 'watch', 'failed'), 0);
    assert.equal((await h.call('GET', `/api/v1/nodes/${id}`)).body.status, 'normal');
    // Stopped, the agent's process holds its connections open and answers nothing: the probes time out.
    agent.child.kill('SIGSTOP');
    await waitFor('node fault', async () => (await h.call('GET', `/api/v1/nodes/${id}`)).body.status === 'fault');
    assert.ok((await probes(h, 'watch', 'failed')) >= 3, 'three probes failed on the watch thread');
    // A faulty node is probed until it recovers, by the thread as well (with its endpoint: it is not watched).
    const before = await probes(h, 'watch', 'ok');
    agent.child.kill('SIGCONT');
    await waitFor('node normal again', async () => (await h.call('GET', `/api/v1/nodes/${id}`)).body.status === 'normal', { timeoutMs: 20_000 });
    assert.ok((await probes(h, 'watch', 'ok')) >= before + 3, 'its recovery seen by three probes on the watch thread');
    assert.equal((await probes(h, 'manager', 'ok')) + (await probes(h, 'manager', 'failed')), 0, "none made on the manager's thread");
  });

  it('with OCDN_HEALTH_WATCH=thread on the embedded database, watches and hands the decision to the manager', async (t) => {
    if (!requireProgram(t, 'ss')) return;
    const { h, id, ip, port, agent } = await setup(t, '127.0.0.44', { OCDN_HEALTH_WATCH: 'thread' }, 'pglite');
    await streamOpen(h, ip, port);
    agent.child.kill('SIGKILL');
    await waitFor('FAULT_NODE succeeded', async () => {
      const runs = (await h.call('GET', `/api/v1/pipelines?kind=FAULT_NODE&subject=${id}`)).body.items as { status: string }[];
      return runs.length === 1 && runs[0]!.status === 'succeeded';
    });
    assert.equal((await h.call('GET', `/api/v1/nodes/${id}`)).body.status, 'fault');
    assert.equal(((await h.call('GET', `/api/v1/pipelines?kind=FAULT_NODE&subject=${id}`)).body.items as unknown[]).length, 1, 'one run');
  });

  /** The built-in DNS's A answer for `name`, by dig (a process of its own: it answers while this thread is held). */
  const digA = (h: Harness, name: string): string[] =>
    execFileSync('dig', ['@127.0.0.1', '-p', String(h.manager.ctx.dns.server!.port), name, 'A', '+short', '+norec', '+time=1', '+tries=1'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .sort();

  /** `ocdn_dns_withheld_addresses` from the manager's /metrics. */
  const withheld = async (h: Harness) => Number(/^ocdn_dns_withheld_addresses (\S+)$/m.exec(await (await fetch(`${h.manager.url}/metrics`)).text())?.[1]);

  const answeringSetups = [
    ['pglite', '127.0.0.51', 'a thread', {}],
    ['postgres', '127.0.0.52', 'a thread', {}],
    // Processes: the watch thread's word goes over each one's Unix socket (dns/withhold-link.ts).
    ['pglite', '127.0.0.55', 'two processes', { OCDN_DNS_ISOLATION: 'process', OCDN_DNS_ANSWERERS: '2' }],
  ] as const;
  for (const [backend, ip, answering, env] of answeringSetups) {
    it(`leaves a killed agent's address out of the built-in DNS's answers while the manager's thread is held (${backend}, ${answering})`, async (t) => {
      if (backend === 'postgres' && !process.env.TEST_DATABASE_URL) return t.skip('needs TEST_DATABASE_URL (PostgreSQL)');
      if (!requireProgram(t, 'ss') || !requireProgram(t, 'dig')) return;
      const { h, id, port, agent } = await setup(t, ip, env, backend);
      // Published for a name of its own, with another address: no domain, so no FAULT_NODE step deletes it — what
      // leaves it out of the answers is the watch thread's word to the answering thread alone.
      const name = `held-${backend}.cdn.ocdn.test`;
      await h.manager.ctx.dns.provider.upsert(name, ip);
      await h.manager.ctx.dns.provider.upsert(name, '127.0.0.99');
      await waitFor('both addresses answered', () => digA(h, name).length === 2);
      await streamOpen(h, ip, port);
      // Held from the kill: on the embedded database nothing can be written meanwhile (it lives on this thread).
      const t0 = Date.now();
      agent.child.kill('SIGKILL');
      let tookMs: number | null = null;
      while (tookMs === null && Date.now() - t0 < 5_000) if (!digA(h, name).includes(ip)) tookMs = Date.now() - t0;
      assert.ok(tookMs !== null, `${ip} was still answered after 5 s of the manager's thread held`);
      // Still held: every answerer left it out (with two processes, either may take a query).
      for (let i = 0; i < 12; i++) assert.ok(!digA(h, name).includes(ip), `${ip} answered again, query ${i}`);
      await waitFor('node fault', async () => (await h.call('GET', `/api/v1/nodes/${id}`)).body.status === 'fault');
      assert.deepEqual(digA(h, name), ['127.0.0.99']);
      const listed = (await h.call('GET', '/api/v1/dns/records')).body.items as { name: string; value: string }[];
      assert.ok(listed.some((r) => r.name === name && r.value === ip), 'still published: withheld from the answers only');
      await waitFor('the gauge at 1', async () => (await withheld(h)) === 1); // /metrics asks the DNS twice a second at most
      // Published again (for another name here; a recovered node's run publishes its domains'): given back.
      await h.manager.ctx.dns.provider.upsert(`again-${backend}.cdn.ocdn.test`, ip);
      await waitFor('answered again', () => digA(h, name).includes(ip));
      await waitFor('the gauge at 0', async () => (await withheld(h)) === 0);
    });
  }

  it("withholds the address of a node the manager's own checks decide, through a DNS process (OCDN_DNS_ISOLATION=process)", async (t) => {
    if (!requireProgram(t, 'dig')) return;
    const ip = '127.0.0.53';
    const { h, id, agent, port, token } = await setup(t, ip, { OCDN_HEALTH_WATCH: 'off', OCDN_DNS_ISOLATION: 'process' }, 'pglite');
    assert.ok(h.manager.ctx.dns.server!.pid, 'the DNS answers in a process of its own');
    const name = 'process.cdn.ocdn.test';
    await h.manager.ctx.dns.provider.upsert(name, ip);
    await h.manager.ctx.dns.provider.upsert(name, '127.0.0.99');
    await waitFor('both addresses answered', () => digA(h, name).length === 2);
    agent.child.kill('SIGKILL');
    await waitFor('node fault', async () => (await h.call('GET', `/api/v1/nodes/${id}`)).body.status === 'fault');
    await waitFor('the address withheld', () => !digA(h, name).includes(ip));
    await waitFor('the gauge at 1', async () => (await withheld(h)) === 1);
    // Recovered: answered again though nothing published it anew (as a name that kept it, failing open).
    agents.push(startAgentProcess(h.manager.url, token, ip, port));
    await waitFor('node normal again', async () => (await h.call('GET', `/api/v1/nodes/${id}`)).body.status === 'normal', { timeoutMs: 20_000 });
    await waitFor('answered again', () => digA(h, name).includes(ip));
    await waitFor('the gauge at 0', async () => (await withheld(h)) === 0);
  });
});
