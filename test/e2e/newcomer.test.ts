// A newcomer's path, with real processes: the first start that fails keeps no token nobody saw, an idle start raises
// no overload alarm, two agents sharing one node token back off and are shown, and an agent with a wrong token says
// what to do and backs off. Each test makes its own manager data and nodes.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Proc, MANAGER_JS, freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle } from '../support/procs.ts';
import { waitFor } from '../support/wait.ts';

/** JSON log lines of a process whose `msg` matches. */
const lines = (p: Proc, msg: RegExp) =>
  p.output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { time?: string; msg: string; level: string | number })
    .filter((l) => msg.test(l.msg));

describe('a newcomer’s path (embedded database)', () => {
  const tmp = tempDir('newcomer');
  const procs: Proc[] = [];
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    tmp.remove();
  });

  it('a first start that fails stores no admin token; the next start prints one that works; later starts print none', async () => {
    const dataDir = join(tmp.path, 'first-start');
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
    const dnsPort = String(taken.address().port);
    const env = { OCDN_DATA_DIR: dataDir, OCDN_DNS_PORT: dnsPort, OCDN_LOG_LEVEL: 'info' };
    const failed = new Proc('manager', [MANAGER_JS], { ...env, OCDN_HTTP_PORT: String(await freePort()) });
    procs.push(failed);
    assert.notEqual(await failed.exited, 0, 'the start fails: the DNS port is taken');
    assert.match(failed.output, /EADDRINUSE|address already in use/i);
    assert.doesNotMatch(failed.output, /ocdn_tok_/, 'no token printed');
    taken.close();

    const start = async () => {
      const port = await freePort();
      const p = new Proc('manager', [MANAGER_JS], { ...env, OCDN_HTTP_PORT: String(port) });
      procs.push(p);
      await waitFor('manager up', async () => {
        if (!p.running) throw new Error(`manager exited:\n${p.output.slice(-2000)}`);
        return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok;
      });
      return { p, port };
    };
    const { p: second, port } = await start();
    // Printed as the start ends, which is also when the first requests are served: the two reach us in either order.
    const printed = () => /\b(ocdn_tok_[0-9a-z]{16}\.[A-Za-z0-9_-]{43})/.exec(second.output)?.[1];
    await waitFor('the token printed', () => printed() !== undefined, { timeoutMs: 5_000 }).catch(() => {});
    const token = printed();
    assert.ok(token, `the first good start prints the token:\n${second.output.slice(-1500)}`);
    const ok = await fetch(`http://127.0.0.1:${port}/api/v1/nodes`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200, 'and it works');
    await second.stop();

    const { p: third, port: port3 } = await start();
    assert.doesNotMatch(third.output, /ocdn_tok_/, 'a token exists: none is generated or printed again');
    assert.equal((await fetch(`http://127.0.0.1:${port3}/api/v1/nodes`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    await third.stop();
  });

  describe('with a manager and agents', () => {
    let m: ManagerHandle;
    const metric = async (name: string) => {
      const text = await (await fetch(`${m.url}/metrics`)).text();
      return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((s, x) => s + Number(x[1]), 0);
    };
    const register = async (name: string, ip: string) => {
      const port = await freePort(ip);
      const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name, ip, roles: ['cdn'], agentPort: port }) });
      return { id: r.node.id as string, token: r.token as string, ip, port };
    };
    const agent = (managerUrl: string, token: string, ip: string, port: number) => {
      const p = startAgentProcess(managerUrl, token, ip, port, { OCDN_RECONNECT_MAX_MS: '30000', OCDN_NGINX_CONF_DIR: join(tmp.path, `nginx-${ip}-${port}`), OCDN_NGINX_TEST_CMD: 'true', OCDN_NGINX_RELOAD_CMD: 'true', OCDN_NGINX_CACHE_DIR: join(tmp.path, `cache-${port}`) });
      procs.push(p);
      return p;
    };

    it('an idle start raises no overload alarm', async () => {
      m = await startManagerProcess({ OCDN_DATA_DIR: join(tmp.path, 'idle') });
      procs.push(m.proc);
      const n = await register('idle-edge', '127.0.0.41');
      agent(m.url, n.token, n.ip, n.port);
      await waitFor('node normal', async () => (await m.json(`/api/v1/nodes/${n.id}`)).status === 'normal', { timeoutMs: 20_000 });
      await waitFor('five checked health ticks', async () => (await metric('ocdn_health_ticks_total')) >= 5, { timeoutMs: 20_000 });
      assert.doesNotMatch(m.proc.output, /manager overloaded/, 'start-up work is not overload');
    });

    it('two agents with one node token back off, say why, and the API and metrics show the duplicate', async () => {
      const n = await register('dup-edge', '127.0.0.42');
      const a = agent(m.url, n.token, n.ip, n.port);
      await waitFor('node normal', async () => (await m.json(`/api/v1/nodes/${n.id}`)).status === 'normal', { timeoutMs: 20_000 });
      const b = agent(m.url, n.token, '127.0.0.43', await freePort('127.0.0.43'));
      const replaced = () => [...lines(a, /replaced this one/), ...lines(b, /replaced this one/)].map((l) => Date.parse(l.time!)).sort((x, y) => x - y);
      await waitFor('four replacements', () => replaced().length >= 4, { timeoutMs: 30_000, intervalMs: 100 });
      const t = replaced();
      // Each agent backs off 1 s, then 2 s (±20 %) after being knocked off, instead of retrying at once: the knock-offs
      // alternate A, B, A, B, so the fourth comes at least 0.8 + 0.8 + 1.6 s after the first (not ~100 ms).
      assert.ok(t[3]! - t[0]! >= 3000, `the fourth replacement came ${t[3]! - t[0]!} ms after the first`);
      const view = await m.json(`/api/v1/nodes/${n.id}`);
      assert.ok(view.duplicateAgentAt, 'the node shows the duplicate');
      assert.ok((await metric('ocdn_agent_duplicate_connections_total')) >= 2);
      assert.match(m.proc.output, /two agents are using the node token of this node/);
      await b.stop();
    });

    it('an agent with a wrong node token logs an error that says what to do, and backs off', async () => {
      const n = await register('wrong-token', '127.0.0.44');
      const wrong = `${n.id}.${'x'.repeat(43)}`;
      const p = agent(m.url, wrong, n.ip, n.port);
      const refusals = () => lines(p, /refused this node token/).map((l) => ({ at: Date.parse(l.time!), level: l.level }));
      await waitFor('three refusals', () => refusals().length >= 3, { timeoutMs: 30_000, intervalMs: 100 });
      const r = refusals();
      assert.equal(r[0]!.level, 'error');
      assert.match(p.output, /set OCDN_NODE_TOKEN to the token shown when this node was registered/);
      assert.ok(r[2]!.at - r[0]!.at >= 2400, `backoff: the third try came ${r[2]!.at - r[0]!.at} ms after the first`);
      assert.doesNotMatch(p.output, new RegExp(wrong.split('.')[1]!), 'the token is never logged');
    });
  });
});
