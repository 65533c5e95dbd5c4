import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, fetch } from 'undici';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { ADMIN_TOKEN, MANAGER_JS, Proc, freePort, startAgentProcess, tempDir } from '../support/procs.ts';
import { requireProgram } from '../support/programs.ts';
import { waitFor } from '../support/wait.ts';

/** A CA and certificates for 127.0.0.1 (the manager) and an agent address, made with Debian's openssl. */
function makePki(openssl: string, dir: string, agentIp: string, rogueIp: string) {
  const run = (...args: string[]) => execFileSync(openssl, args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) => {
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
  };
  const leaf = (name: string, ip: string, signer: string) => {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${ip}`);
    const ext = join(dir, `${name}.ext`);
    execFileSync('sh', ['-c', `printf 'subjectAltName=IP:${ip}\\n' > "$1"`, 'sh', ext]);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.pem`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', ext);
  };
  ca('fleet-ca');
  ca('other-ca');
  leaf('manager', '127.0.0.1', 'fleet-ca');
  leaf('agent', agentIp, 'fleet-ca');
  leaf('rogue', rogueIp, 'other-ca');
  const p = (f: string) => join(dir, f);
  return { ca: p('fleet-ca.pem'), otherCa: p('other-ca.pem'), manager: { cert: p('manager.pem'), key: p('manager.key') }, agent: { cert: p('agent.pem'), key: p('agent.key') }, rogue: { cert: p('rogue.pem'), key: p('rogue.key') } };
}

describe('TLS between the manager and its agents', () => {
  const dir = tempDir('e2e-tls');
  const ip = '127.0.0.5';
  const rogueIp = '127.0.0.6';
  let tdb: TestDatabase | undefined;
  let manager: Proc | undefined;
  const agents: Proc[] = [];
  let pki: ReturnType<typeof makePki>;
  let url = '';
  let client: Agent;
  const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
    const r = await fetch(`${url}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      body: init.body ? JSON.stringify(init.body) : undefined,
      dispatcher: client,
    });
    return { status: r.status, body: (await r.json().catch(() => null)) as any };
  };

  before(async (t) => {
    const openssl = requireProgram(t, 'openssl');
    if (!openssl) return;
    pki = makePki(openssl, dir.path, ip, rogueIp);
    client = new Agent({ connect: { ca: readFileSync(pki.ca, 'utf8') } });
    if (process.env.TEST_DATABASE_URL) tdb = await createTestDatabase('postgres');
    const port = await freePort();
    url = `https://127.0.0.1:${port}`;
    manager = new Proc('manager', [MANAGER_JS], {
      OCDN_HTTP_PORT: String(port),
      OCDN_DNS_PORT: '0',
      OCDN_ADMIN_TOKEN: ADMIN_TOKEN,
      OCDN_HTTP_TLS_CERT: pki.manager.cert,
      OCDN_HTTP_TLS_KEY: pki.manager.key,
      OCDN_AGENT_CA: pki.ca,
      ...(tdb?.url ? { DATABASE_URL: tdb.url } : { OCDN_DATA_DIR: join(dir.path, 'data') }),
    });
    await waitFor('the manager over https', async () => {
      if (!manager!.running) throw new Error(`manager exited:\n${manager!.output.slice(-2000)}`);
      return (await fetch(`${url}/healthz`, { dispatcher: client }).catch(() => null))?.ok;
    }, { timeoutMs: 30_000 });
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await manager?.stop();
    await client?.close();
    await tdb?.cleanup();
    dir.remove();
  });

  it('a TLS agent reaches normal over https both ways, and never answers in clear', async (t) => {
    if (!pki) return t.skip('missing program: openssl');
    const agentPort = await freePort(ip);
    const reg = await api('/api/v1/nodes', { method: 'POST', body: { name: 'tls-edge', ip, roles: ['cdn'], agentPort } });
    assert.equal(reg.status, 201);
    assert.equal(reg.body.node.tls, true, 'with OCDN_AGENT_CA set, nodes are registered with TLS by default');
    const token = reg.body.token as string;
    const agentEnv = { OCDN_MANAGER_CA: pki.ca, OCDN_AGENT_TLS_CERT: pki.agent.cert, OCDN_AGENT_TLS_KEY: pki.agent.key, OCDN_RECONNECT_MAX_MS: '1000' };
    let agent = startAgentProcess(url, token, ip, agentPort, agentEnv);
    agents.push(agent);
    await waitFor('the node normal and connected', async () => {
      const n = (await api(`/api/v1/nodes/${reg.body.node.id}`)).body;
      return n.status === 'normal' && n.connected;
    }, { timeoutMs: 20_000 });

    // The agent's API: https with the fleet CA works; plain HTTP gets no HTTP answer.
    const beat = await fetch(`https://${ip}:${agentPort}/heartbeat`, { headers: { authorization: `Bearer ${token}` }, dispatcher: client });
    assert.equal(beat.status, 200);
    const clear = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: ip, port: agentPort, path: '/heartbeat', headers: { authorization: `Bearer ${token}` } }, (res) => resolve(`HTTP ${res.statusCode}`));
      req.on('error', (err) => resolve(err.message));
      req.end();
    });
    assert.doesNotMatch(clear, /^HTTP 200/, `plain HTTP must not be answered: ${clear}`);

    // The health watch holds the agent's heartbeat stream over TLS too, the agent's certificate checked against
    // OCDN_AGENT_CA (in clear the agent would not answer it).
    const streams = async () => Number(/^ocdn_health_watch_streams (\d+)$/m.exec(await (await fetch(`${url}/metrics`, { dispatcher: client })).text())?.[1]);
    await waitFor('the watch stream open over TLS', async () => (await streams()) === 1, { timeoutMs: 20_000 });

    // Rotation with a real agent: restart it with the new token; the old token is refused from then on.
    const rotated = await api(`/api/v1/nodes/${reg.body.node.id}/token`, { method: 'POST' });
    assert.equal(rotated.status, 200);
    await agent.stop();
    agent = startAgentProcess(url, rotated.body.token, ip, agentPort, agentEnv);
    agents.push(agent);
    await waitFor('the agent connected with its new token', async () => (await api(`/api/v1/nodes/${reg.body.node.id}`)).body.oldTokenValidUntil === null, { timeoutMs: 20_000 });
    const oldRefused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${url.replace('https', 'wss')}/api/v1/agent/ws`, { headers: { authorization: `Bearer ${token}` }, ca: readFileSync(pki.ca) });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('error', () => {});
    });
    assert.equal(oldRefused, 401);
    await waitFor('the node normal again', async () => (await api(`/api/v1/nodes/${reg.body.node.id}`)).body.status === 'normal', { timeoutMs: 20_000 });
  });

  it('an agent whose certificate the fleet CA did not sign is refused, and refuses a manager it cannot verify', async (t) => {
    if (!pki) return t.skip('missing program: openssl');
    const agentPort = await freePort(rogueIp);
    const reg = await api('/api/v1/nodes', { method: 'POST', body: { name: 'rogue-edge', ip: rogueIp, roles: ['cdn'], agentPort } });
    assert.equal(reg.status, 201);
    // Trusting another CA, the agent cannot verify the manager, so it never links; the manager can only try its
    // HTTP API, over https, where the agent's certificate fails verification.
    const rogue = startAgentProcess(url, reg.body.token, rogueIp, agentPort, { OCDN_MANAGER_CA: pki.otherCa, OCDN_AGENT_TLS_CERT: pki.rogue.cert, OCDN_AGENT_TLS_KEY: pki.rogue.key });
    agents.push(rogue);
    await waitFor('the agent to report that it cannot verify the manager', () => /certificate|self[- ]signed|verify/i.test(rogue.output), { timeoutMs: 20_000 });
    const step = await waitFor('ADD_NODE to fail its heartbeat on the certificate', async () => {
      const p = (await api(`/api/v1/pipelines/${reg.body.pipeline.id}`)).body;
      const s = p.steps.find((x: { error: string | null }) => x.error && /certificate|self[- ]signed|verify/i.test(x.error));
      return s ?? null;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.match(step.error, /https:\/\//, 'the manager tried https, never plain HTTP');
    assert.notEqual((await api(`/api/v1/nodes/${reg.body.node.id}`)).body.status, 'normal');
    await rogue.stop();
  });
});
