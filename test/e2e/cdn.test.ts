import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { getWithHost } from '../support/http.ts';
import { startNginx, type NginxInstance } from '../support/nginx.ts';
import { freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle, type Proc } from '../support/procs.ts';
import { requireProgram } from '../support/programs.ts';
import { waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const NODE_IPS = ['127.0.0.6', '127.0.0.7'];
const JOIN_IP = '127.0.0.8';
const LEAVE_IP = '127.0.0.9';

/** GET of a video through a node's nginx, with the config version that served it. */
const get = async (ip: string, port: number, host: string, path = '/video/a.mp4') => {
  const r = await getWithHost(ip, port, host, path);
  return { status: r.status, body: r.body, version: r.headers['x-ocdn-config-version'] as string | undefined };
};

/**
 * CDN domains end to end: the manager, two agents each driving its own real nginx, an origin, and dig against the
 * built-in DNS. ADD_DOMAIN serves the domain through both nginx and publishes both addresses; REMOVE_DOMAIN takes
 * it out of DNS and off the nodes. Each test adds its own domain (and, where it needs one, its own extra node) and
 * removes it at the end; before each test the two base nodes are brought back to running, so no test depends on
 * another having run.
 */
describe('CDN domains end to end (real nginx, built-in DNS)', () => {
  const dir = tempDir('e2e-cdn');
  let tdb: TestDatabase | undefined;
  let m: ManagerHandle | undefined;
  let managerEnv: Record<string, string> = {};
  let dig: string | null = null;
  let origin: Server;
  let origin2: Server;
  let cdnPort: number;
  let dnsPort: number;
  const nginxes: NginxInstance[] = [];
  const agents: Proc[] = [];
  const agentSpecs: { token: string; ip: string; port: number; env: Record<string, string> }[] = [];
  /** Starts nginx and registers a cdn node for it on `ip`; returns its index in agentSpecs. */
  const addCdnNode = async (nginxPath: string, ip: string): Promise<number> => {
    const i = agentSpecs.length;
    const nginx = startNginx(nginxPath, join(dir.path, `nginx-${i}`));
    nginxes.push(nginx);
    const agentPort = await freePort(ip);
    const r = await m!.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: `cdn-${i}`, ip, roles: ['cdn'], agentPort }) });
    nodeIds.push(r.node.id);
    agentSpecs.push({
      token: r.token,
      ip,
      port: agentPort,
      env: {
        ...nginx.agentEnv,
        OCDN_RECONNECT_MAX_MS: '1000',
      },
    });
    startAgent(i);
    await waitFor(`node ${r.node.id} normal`, async () => (await m!.json(`/api/v1/nodes/${r.node.id}`)).status === 'normal');
    return i;
  };
  let nginxBin = '';
  const startAgent = (i: number) => {
    const s = agentSpecs[i]!;
    agents[i] = startAgentProcess(m!.url, s.token, s.ip, s.port, s.env);
  };
  const nodeIds: string[] = [];
  const digA = async (name: string) => {
    const { stdout } = await run(dig!, ['@127.0.0.1', '-p', String(dnsPort), name, 'A', '+time=2', '+tries=1']);
    return { status: /status: (\w+)/.exec(stdout)?.[1], ips: [...stdout.matchAll(/^\S+\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((x) => x[1]).sort() };
  };
  const originUrl = (o: Server) => `http://127.0.0.1:${(o.address() as { port: number }).port}`;
  /** Adds a domain (on the base nodes unless `nodeIds` says), waits for ADD_DOMAIN, and removes it after the test. */
  const addDomain = async (t: { after(fn: () => Promise<void>): void }, domain: string, extra: { nodeIds?: string[] } = {}) => {
    const r = await m!.json('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain, origins: [originUrl(origin)], ...extra }) });
    t.after(() => removeDomain(domain));
    await pipelineDone(r.pipeline.id);
    return r as { domain: { domain: string; cname: string }; pipeline: { id: string } };
  };
  const removeDomain = async (domain: string) => {
    const r = await m!.api(`/api/v1/domains/${domain}`, { method: 'DELETE' });
    if (r.status === 202) await pipelineDone(((await r.json()) as { pipeline: { id: string } }).pipeline.id);
  };
  /** An extra node of the test's own (agent and nginx), removed and stopped after it. */
  const extraNode = async (t: { after(fn: () => Promise<void>): void }, ip: string) => {
    const i = await addCdnNode(nginxBin, ip);
    t.after(async () => {
      const r = await m!.api(`/api/v1/nodes/${nodeIds[i]}`, { method: 'DELETE' });
      if (r.status === 202) await pipelineDone(((await r.json()) as { pipeline: { id: string } }).pipeline.id);
      await agents[i]!.stop();
      nginxes[i]!.stop();
    });
    return i;
  };
  const pipelineDone = (id: string) =>
    waitFor(`pipeline ${id}`, async () => {
      const p = await m!.json(`/api/v1/pipelines/${id}`);
      if (p.status === 'failed') throw new Error(`pipeline failed: ${JSON.stringify(p.steps.filter((s: { error: string | null }) => s.error))}`);
      return p.status === 'succeeded' ? p : null;
    }, { timeoutMs: 30_000, intervalMs: 20 });

  before(async (t) => {
    const nginxPath = requireProgram(t, 'nginx');
    dig = requireProgram(t, 'dig');
    if (!nginxPath || !dig) return;
    const originPort = await freePort();
    origin = createServer((req, res) => res.end(`origin body for ${req.headers.host}${req.url}`)).listen(originPort, '127.0.0.1');
    origin2 = createServer((req, res) => res.end(`second origin for ${req.headers.host}${req.url}`)).listen(await freePort(), '127.0.0.1');
    cdnPort = await freePort(NODE_IPS[0]);
    dnsPort = await freePort();
    if (process.env.TEST_DATABASE_URL) tdb = await createTestDatabase('postgres');
    managerEnv = {
      ...(tdb?.url ? { DATABASE_URL: tdb.url } : { OCDN_DATA_DIR: join(dir.path, 'data') }),
      OCDN_DNS_PORT: String(dnsPort),
      OCDN_CDN_LISTEN: `{ip}:${cdnPort}`,
    };
    m = await startManagerProcess(managerEnv);
    nginxBin = nginxPath;
    for (const ip of NODE_IPS) await addCdnNode(nginxPath, ip);
  });

  // The base nodes running and normal before each test, whatever the one before left behind.
  beforeEach(async () => {
    if (!m) return;
    for (const i of NODE_IPS.keys()) {
      if (!agents[i]!.running) startAgent(i);
      await waitFor(`base node ${i} normal and connected`, async () => {
        const n = await m!.json(`/api/v1/nodes/${nodeIds[i]}`);
        return n.status === 'normal' && n.connected;
      }, { timeoutMs: 30_000 });
    }
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await m?.proc.stop();
    for (const n of nginxes) n.stop();
    origin?.close();
    origin2?.close();
    await tdb?.cleanup();
    dir.remove();
  });

  it('ADD_DOMAIN: both nginx serve the origin, DNS answers both addresses, the domain is complete', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    const t0 = performance.now();
    const r = await m.api('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: 'Add.Example.com', origins: [originUrl(origin)] }) });
    assert.equal(r.status, 202);
    t.after(() => removeDomain('add.example.com'));
    const body = (await r.json()) as any;
    assert.equal(body.domain.domain, 'add.example.com');
    assert.equal(body.domain.cname, 'add-example-com.cdn.ocdn.test');
    assert.equal(body.pipeline.kind, 'ADD_DOMAIN');
    const p = await pipelineDone(body.pipeline.id);
    const ms = performance.now() - t0;
    t.diagnostic(`ADD_DOMAIN on 2 nginx nodes: ${Math.round(ms)} ms from POST to succeeded`);
    const names = p.steps.map((s: { name: string }) => s.name);
    assert.equal(names[0], 'OCDN_DOMAIN_STATUS');
    assert.equal(names.at(-1), 'OCDN_DOMAIN_STATUS');
    for (const ip of NODE_IPS) {
      const mine = p.steps.filter((s: { target: string }) => s.target === ip).map((s: { name: string }) => s.name);
      assert.deepEqual(mine, ['OCDN_SYNC_CONF', 'OCDN_NODE_RELOAD', 'OCDN_VER_CONF', 'OCDN_MODIFI_DNS', 'OCDN_DOMAIN_NODE'], 'published only after the config is verified');
    }
    const d = await m.json('/api/v1/domains/add.example.com');
    assert.equal(d.status, 'complete');
    assert.deepEqual(d.nodes.map((n: { status: string }) => n.status), ['complete', 'complete']);
    for (const ip of NODE_IPS) {
      const res = await get(ip, cdnPort, 'add.example.com');
      assert.equal(res.status, 200);
      assert.equal(res.body, 'origin body for add.example.com/video/a.mp4');
      assert.equal(res.version, '1');
    }
    const answer = await digA('add-example-com.cdn.ocdn.test');
    assert.equal(answer.status, 'NOERROR');
    assert.deepEqual(answer.ips, NODE_IPS);
    const records = (await m.json('/api/v1/dns/records?limit=1000')).items.filter((x: { name: string }) => x.name === 'add-example-com.cdn.ocdn.test');
    assert.equal(records.length, 2);
  });

  it('FAULT_NODE takes a dead node out of DNS; RECOVER_NODE resyncs and publishes it again', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    const { domain } = await addDomain(t, 'fault.example.com');
    const killedAt = performance.now();
    await agents[0]!.kill9();
    await waitFor('the dead node to leave DNS', async () => (await digA(domain.cname)).ips.join() === NODE_IPS[1], { timeoutMs: 10_000, intervalMs: 50 });
    t.diagnostic(`node killed → address gone from DNS: ${Math.round(performance.now() - killedAt)} ms`);
    // OCDN_DEL_DNS withdraws the address one step before OCDN_DOMAIN_NODE marks the node fault: wait for that step.
    const d = await waitFor('the domain node marked fault', async () => {
      const dom = await m!.json('/api/v1/domains/fault.example.com');
      return dom.nodes[0].status === 'fault' && dom;
    }, { timeoutMs: 5_000, intervalMs: 20 });
    assert.deepEqual(d.nodes.map((n: { status: string }) => n.status), ['fault', 'complete']);
    assert.equal(d.failOpen, false);
    assert.equal((await get(NODE_IPS[1]!, cdnPort, 'fault.example.com')).status, 200, 'the other node still serves');

    const recoversBefore = (await m.json(`/api/v1/pipelines?kind=RECOVER_NODE&subject=${nodeIds[0]}`)).items.length;
    startAgent(0);
    await waitFor('the node back in DNS', async () => (await digA(domain.cname)).ips.join() === NODE_IPS.join(), { timeoutMs: 20_000, intervalMs: 50 });
    await waitFor('domain node complete', async () => (await m!.json('/api/v1/domains/fault.example.com')).nodes[0].status === 'complete');
    await waitFor('node normal', async () => (await m!.json(`/api/v1/nodes/${nodeIds[0]}`)).status === 'normal');
    const recovers = await m.json(`/api/v1/pipelines?kind=RECOVER_NODE&subject=${nodeIds[0]}`);
    assert.equal(recovers.items.length, recoversBefore + 1);
    const steps = recovers.items[0].steps.map((s: { name: string }) => s.name);
    assert.deepEqual(steps, ['OCDN_SYNC_CONF', 'OCDN_NODE_RELOAD', 'OCDN_VER_CONF', 'OCDN_MODIFI_DNS', 'OCDN_DOMAIN_NODE', 'OCDN_NODE_STATUS']);
  });

  it('hands a node that fails during ADD_DOMAIN to its recovery: the domain completes on the other, and reaches it when it is back', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    // Frozen (SIGSTOP): still `normal` when the domain is planned, `fault` once silent for three heartbeats.
    agents[0]!.child.kill('SIGSTOP');
    const thaw = () => agents[0]!.child.kill('SIGCONT'); // harmless to a process that runs
    t.after(thaw);
    const t0 = performance.now();
    const r = await m.json('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: 'handed.example.com', origins: [originUrl(origin)] }) });
    t.after(() => removeDomain('handed.example.com'));
    const p = await pipelineDone(r.pipeline.id);
    t.diagnostic(`ADD_DOMAIN with one node frozen: ${Math.round(performance.now() - t0)} ms from POST to succeeded`);
    const on = (ip: string) => p.steps.filter((s: { target: string }) => s.target === ip) as { name: string; status: string; error: string | null }[];
    assert.deepEqual(on(NODE_IPS[0]!).map((s) => s.status), ['skipped', 'skipped', 'skipped', 'skipped', 'skipped'], JSON.stringify(on(NODE_IPS[0]!)));
    assert.match(on(NODE_IPS[0]!)[0]!.error!, new RegExp(`node ${NODE_IPS[0]!.replaceAll('.', '\\.')} is fault: its recovery \\(RECOVER_NODE\\) brings handed\\.example\\.com to it`));
    assert.ok(on(NODE_IPS[1]!).every((s) => s.status === 'succeeded'));
    const d = await m.json('/api/v1/domains/handed.example.com');
    assert.equal(d.status, 'complete', 'complete on the node that serves it');
    assert.deepEqual(d.nodes.map((n: { status: string }) => n.status), ['fault', 'complete']);
    assert.deepEqual((await digA(d.cname)).ips, [NODE_IPS[1]]);
    thaw();
    await waitFor('the node back in DNS', async () => (await digA(d.cname)).ips.join() === NODE_IPS.join(), { timeoutMs: 20_000, intervalMs: 50 });
    await waitFor('domain node complete', async () => (await m!.json('/api/v1/domains/handed.example.com')).nodes[0].status === 'complete');
    const res = await get(NODE_IPS[0]!, cdnPort, 'handed.example.com');
    assert.deepEqual([res.status, res.body], [200, 'origin body for handed.example.com/video/a.mp4'], 'its recovery brought the config to it');
    // Removed while frozen again: the run goes on without it, and drift repair deletes its copy once it has recovered.
    agents[0]!.child.kill('SIGSTOP');
    const removal = await pipelineDone((await m.json('/api/v1/domains/handed.example.com', { method: 'DELETE' })).pipeline.id);
    assert.deepEqual(removal.steps.filter((s: { target: string }) => s.target === NODE_IPS[0]).map((s: { status: string }) => s.status), ['succeeded', 'skipped', 'succeeded']);
    const copy = join(nginxes[0]!.confDir, 'handed.example.com.conf');
    assert.ok(existsSync(copy), 'the frozen node still holds it');
    thaw();
    await waitFor('drift repair to delete the copy', () => !existsSync(copy), { timeoutMs: 30_000, intervalMs: 100 });
  });

  it('fails open: with every node down the domain keeps an address and says so; it heals when nodes return', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    const { domain } = await addDomain(t, 'failopen.example.com');
    await Promise.all([agents[0]!.kill9(), agents[1]!.kill9()]);
    for (const id of nodeIds.slice(0, 2)) await waitFor(`node ${id} fault`, async () => (await m!.json(`/api/v1/nodes/${id}`)).status === 'fault');
    await waitFor('FAULT_NODE runs to end', async () => {
      const runs = await m!.json('/api/v1/pipelines?kind=FAULT_NODE&status=running');
      const pending = await m!.json('/api/v1/pipelines?kind=FAULT_NODE&status=pending');
      return runs.items.length === 0 && pending.items.length === 0;
    });
    const d = await m.json('/api/v1/domains/failopen.example.com');
    assert.equal(d.failOpen, true);
    assert.ok((await digA(domain.cname)).ips.length >= 1, 'an address stays published');

    startAgent(0);
    startAgent(1);
    await waitFor('both nodes back in DNS', async () => (await digA(domain.cname)).ips.join() === NODE_IPS.join(), { timeoutMs: 20_000, intervalMs: 50 });
    await waitFor('domain healthy', async () => {
      const x = await m!.json('/api/v1/domains/failopen.example.com');
      return !x.failOpen && x.nodes.every((n: { status: string }) => n.status === 'complete');
    });
  });

  it('JOIN_NODE puts another node under a running domain: it serves and is published', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    const { domain } = await addDomain(t, 'join.example.com');
    const i = await extraNode(t, JOIN_IP);
    const r = await m.api('/api/v1/domains/join.example.com/nodes', { method: 'POST', body: JSON.stringify({ nodeId: nodeIds[i] }) });
    assert.equal(r.status, 202);
    const body = (await r.json()) as any;
    assert.equal(body.pipeline.kind, 'JOIN_NODE');
    await pipelineDone(body.pipeline.id);
    assert.equal((await get(JOIN_IP, cdnPort, 'join.example.com')).status, 200);
    assert.deepEqual((await digA(domain.cname)).ips, [...NODE_IPS, JOIN_IP]);
    const again = await m.api('/api/v1/domains/join.example.com/nodes', { method: 'POST', body: JSON.stringify({ nodeId: nodeIds[i] }) });
    assert.equal(again.status, 409, 'a node already serving the domain');
    const unknown = await m.api('/api/v1/domains/join.example.com/nodes', { method: 'POST', body: JSON.stringify({ nodeId: 'nod_nope1234' }) });
    assert.equal(unknown.status, 400);
  });

  it('PATCH origins rolls a new config version out to every node', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    await addDomain(t, 'patch.example.com');
    const r = await m.api('/api/v1/domains/patch.example.com', { method: 'PATCH', body: JSON.stringify({ origins: [originUrl(origin2)] }) });
    assert.equal(r.status, 202);
    const body = (await r.json()) as any;
    assert.equal(body.domain.configVersion, 2);
    await pipelineDone(body.pipeline.id);
    for (const ip of NODE_IPS) {
      // nginx applies a reload asynchronously (new workers take over), so the new version shows a moment later.
      const res = await waitFor(`version 2 on ${ip}`, async () => {
        const x = await get(ip, cdnPort, 'patch.example.com', `/not-cached-yet/${ip}/${Date.now()}`);
        return x.version === '2' ? x : null;
      });
      assert.match(res.body, /^second origin/, 'new objects come from the new origin (cached ones stay until they expire)');
    }
    const bad = await m.api('/api/v1/domains/patch.example.com', { method: 'PATCH', body: JSON.stringify({ origins: ['gopher://x'] }) });
    assert.equal(bad.status, 400);
    const extra = await m.api('/api/v1/domains/patch.example.com', { method: 'PATCH', body: JSON.stringify({ subDomain: 'x' }) });
    assert.equal(extra.status, 400, 'only origins may change');
  });

  it('repairs drift when an agent reconnects: a lost config comes back, a stray one goes', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    await addDomain(t, 'drift.example.com');
    const confDir = nginxes[0]!.confDir;
    const own = join(confDir, 'drift.example.com.conf');
    const ghost = join(confDir, 'ghost.example.com.conf');
    await agents[0]!.kill9();
    rmSync(own);
    writeFileSync(ghost, `# ocdn domain=ghost.example.com version=1\nserver { listen ${NODE_IPS[0]}:${cdnPort}; server_name ghost.example.com; return 204; }\n`);
    startAgent(0);
    await waitFor('the lost config back and the stray one gone', () => existsSync(own) && !existsSync(ghost), { timeoutMs: 20_000 });
    assert.match(readFileSync(own, 'utf8'), /^# ocdn domain=drift\.example\.com version=1 /);
  });

  it('REMOVE_NODE takes the node out of DNS, then off its nginx', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    const i = await extraNode(t, LEAVE_IP);
    const { domain } = await addDomain(t, 'leave.example.com', { nodeIds: [...nodeIds.slice(0, 2), nodeIds[i]!] });
    assert.deepEqual((await digA(domain.cname)).ips, [...NODE_IPS, LEAVE_IP]);
    const r = await m.json(`/api/v1/nodes/${nodeIds[i]}`, { method: 'DELETE' });
    const p = await pipelineDone(r.pipeline.id);
    assert.deepEqual(p.steps.map((s: { name: string }) => s.name), ['OCDN_NODE_STATUS', 'OCDN_DEL_DNS', 'OCDN_DEL_CONF', 'OCDN_DOMAIN_NODE', 'OCDN_NODE_STATUS']);
    assert.deepEqual((await digA(domain.cname)).ips, NODE_IPS);
    assert.equal(existsSync(join(nginxes[i]!.confDir, 'leave.example.com.conf')), false);
    const d = await m.json('/api/v1/domains/leave.example.com');
    assert.equal(d.nodes.find((n: { nodeId: string }) => n.nodeId === nodeIds[i]).status, 'delete');
  });

  it('finishes an ADD_DOMAIN once after the manager is killed -9 in the middle, without duplicate records', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    const r = await m.json('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: 'video.example.com', origins: [originUrl(origin)] }) });
    t.after(() => removeDomain('video.example.com'));
    await m.proc.kill9();
    m = await startManagerProcess({ ...managerEnv, OCDN_HTTP_PORT: String(m.port) });
    await pipelineDone(r.pipeline.id);
    const runs = await m.json('/api/v1/pipelines?kind=ADD_DOMAIN&subject=video.example.com');
    assert.equal(runs.items.length, 1);
    assert.deepEqual((await digA('video-example-com.cdn.ocdn.test')).ips, NODE_IPS);
    const records = (await m.json('/api/v1/dns/records?limit=1000')).items.filter((x: { name: string }) => x.name === 'video-example-com.cdn.ocdn.test');
    assert.equal(records.length, 2);
    for (const ip of NODE_IPS) await waitFor(`video on ${ip}`, async () => (await get(ip, cdnPort, 'video.example.com')).status === 200);
  });

  it('a broken template fails at OCDN_NODE_RELOAD with nginx\'s message, and the old config keeps serving', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    await addDomain(t, 'broken.example.com');
    const restart = async (extra: Record<string, string>) => {
      await m!.proc.stop();
      m = await startManagerProcess({ ...managerEnv, OCDN_HTTP_PORT: String(m!.port), ...extra });
      for (const id of nodeIds.slice(0, 2)) await waitFor('agents back', async () => (await m!.json(`/api/v1/nodes/${id}`)).connected === true);
    };
    await restart({ OCDN_CDN_LISTEN: '{ip}:99999' });
    t.after(() => restart({}));
    const r = await m.json('/api/v1/domains/broken.example.com', { method: 'PATCH', body: JSON.stringify({ origins: [originUrl(origin2)] }) });
    const failed = await waitFor('UPDATE_DOMAIN to fail', async () => {
      const p = await m!.json(`/api/v1/pipelines/${r.pipeline.id}`);
      return p.status === 'failed' ? p : null;
    }, { timeoutMs: 30_000 });
    const reload = failed.steps.filter((s: { name: string; status: string }) => s.status === 'failed');
    assert.ok(reload.length > 0 && reload.every((s: { name: string }) => s.name === 'OCDN_NODE_RELOAD'), JSON.stringify(failed.steps));
    assert.match(reload[0].error, /invalid port in "127\.0\.0\.\d:99999"/);
    for (const ip of NODE_IPS) {
      const res = await get(ip, cdnPort, 'broken.example.com', `/still-serving/${Date.now()}`);
      assert.equal(res.status, 200);
      assert.equal(res.version, '1', 'the old config serves');
    }
  });

  it('REMOVE_DOMAIN: out of DNS first, then off both nginx; the name is NXDOMAIN and the files are gone', async (t) => {
    if (!m) return t.skip('missing program: nginx or dig');
    const { domain } = await addDomain(t, 'remove.example.com');
    const r = await m.json('/api/v1/domains/remove.example.com', { method: 'DELETE' });
    assert.equal(r.pipeline.kind, 'REMOVE_DOMAIN');
    const again = await m.api('/api/v1/domains/remove.example.com', { method: 'DELETE' });
    assert.equal(again.status, 409);
    const p = await pipelineDone(r.pipeline.id);
    for (const ip of NODE_IPS) {
      const mine = p.steps.filter((s: { target: string }) => s.target === ip).map((s: { name: string }) => s.name);
      assert.deepEqual(mine, ['OCDN_DEL_DNS', 'OCDN_DEL_CONF', 'OCDN_DOMAIN_NODE']);
    }
    assert.equal((await m.json('/api/v1/domains/remove.example.com')).status, 'delete');
    assert.equal((await digA(domain.cname)).status, 'NXDOMAIN');
    for (const i of NODE_IPS.keys()) assert.equal(existsSync(join(nginxes[i]!.confDir, 'remove.example.com.conf')), false);
    assert.equal((await m.api('/api/v1/domains/remove.example.com', { method: 'DELETE' })).status, 404);
    // Every other test removed its domain: with none left on the nodes, nothing listens on the CDN address any more.
    const live = (await m.json('/api/v1/domains?limit=1000')).items.filter((d: { status: string }) => d.status !== 'delete');
    assert.deepEqual(live.map((d: { domain: string }) => d.domain), []);
    for (const ip of NODE_IPS) {
      await waitFor(`nginx on ${ip} to stop serving`, async () => (await get(ip, cdnPort, 'remove.example.com').catch((e: NodeJS.ErrnoException) => e.code)) === 'ECONNREFUSED');
    }
  });
});
