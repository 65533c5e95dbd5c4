import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Rfc2136Provider } from '../../apps/manager/src/dns/rfc2136.ts';
import { createLogger } from '../../apps/manager/src/log.ts';
import { startBindPrimary, type BindPrimary } from '../support/bind.ts';
import { startNginx, type NginxInstance } from '../support/nginx.ts';
import { freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle, type Proc } from '../support/procs.ts';
import { requireProgram } from '../support/programs.ts';
import { waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const ZONE = 'cdn.ocdn.test';
const NODE_IP = '127.0.0.9';

/** ADD_DOMAIN and REMOVE_DOMAIN with the rfc2136 provider: TSIG-signed dynamic updates to a real BIND primary. */
describe('rfc2136 provider against real BIND', () => {
  const dir = tempDir('e2e-rfc2136');
  let bind: BindPrimary | undefined;
  let m: ManagerHandle | undefined;
  let agent: Proc | undefined;
  let nginx: NginxInstance | undefined;
  let origin: Server | undefined;
  let dig: string | null = null;
  const digA = async (name: string) => {
    const { stdout } = await run(dig!, ['@127.0.0.1', '-p', String(bind!.port), name, 'A', '+time=2', '+tries=1']);
    return { status: /status: (\w+)/.exec(stdout)?.[1], ips: [...stdout.matchAll(/^\S+\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((x) => x[1]).sort() };
  };
  const done = (id: string) =>
    waitFor(`pipeline ${id}`, async () => {
      const p = await m!.json(`/api/v1/pipelines/${id}`);
      if (p.status === 'failed') throw new Error(JSON.stringify(p.steps.filter((s: { error: unknown }) => s.error)));
      return p.status === 'succeeded';
    }, { timeoutMs: 30_000 });

  before(async (t) => {
    const named = requireProgram(t, 'named');
    const nginxPath = requireProgram(t, 'nginx');
    dig = requireProgram(t, 'dig');
    if (!named || !nginxPath || !dig) return;
    bind = await startBindPrimary(join(dir.path, 'bind'), ZONE, await freePort());
    origin = createServer((_req, res) => res.end('origin')).listen(await freePort(), '127.0.0.1');
    const cdnPort = await freePort(NODE_IP);
    m = await startManagerProcess({
      OCDN_DATA_DIR: join(dir.path, 'data'),
      OCDN_DNS_PROVIDER: 'rfc2136',
      OCDN_RFC2136_SERVER: `127.0.0.1:${bind.port}`,
      OCDN_RFC2136_TSIG_NAME: bind.keyName,
      OCDN_RFC2136_TSIG_SECRET: bind.secret,
      OCDN_CDN_LISTEN: `{ip}:${cdnPort}`,
    });
    nginx = startNginx(nginxPath, join(dir.path, 'nginx'));
    const agentPort = await freePort(NODE_IP);
    const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name: 'cdn-bind', ip: NODE_IP, roles: ['cdn'], agentPort }) });
    agent = startAgentProcess(m.url, r.token, NODE_IP, agentPort, {
      ...nginx.agentEnv,
    });
    await waitFor('node normal', async () => (await m!.json(`/api/v1/nodes/${r.node.id}`)).status === 'normal');
  });

  after(async () => {
    await agent?.stop();
    await m?.proc.stop();
    nginx?.stop();
    await bind?.stop();
    origin?.close();
    dir.remove();
  });

  it('publishes with ADD_DOMAIN and withdraws with REMOVE_DOMAIN: dig at BIND shows it', async (t) => {
    if (!m) return t.skip('missing program: named, nginx or dig');
    const add = await m.json('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: 'shop.example.com', origins: [`http://127.0.0.1:${(origin!.address() as { port: number }).port}`] }) });
    await done(add.pipeline.id);
    assert.deepEqual(await digA(`shop-example-com.${ZONE}`), { status: 'NOERROR', ips: [NODE_IP] });
    assert.deepEqual((await m.json('/api/v1/dns/records?limit=1000')).items.map((x: { value: string }) => x.value), [NODE_IP]);
    const del = await m.json('/api/v1/domains/shop.example.com', { method: 'DELETE' });
    await done(del.pipeline.id);
    assert.equal((await digA(`shop-example-com.${ZONE}`)).status, 'NXDOMAIN');
  });

  it('reports a wrong TSIG key as NOTAUTH and publishes nothing', async (t) => {
    if (!bind) return t.skip('missing program: named');
    const published: string[] = [];
    const store = { upsert: async (n: string) => published.push(n), remove: async () => true } as never;
    const wrong = new Rfc2136Provider({
      server: { host: '127.0.0.1', port: bind.port },
      zone: ZONE,
      key: { name: bind.keyName, algorithm: 'hmac-sha256', secret: Buffer.from('not the secret at all') },
      ttl: 30,
      store,
      log: createLogger('silent'),
    });
    await assert.rejects(wrong.upsert(`intruder.${ZONE}`, '127.0.0.66'), /NOTAUTH/);
    assert.deepEqual(published, []);
    assert.equal((await digA(`intruder.${ZONE}`)).status, 'NXDOMAIN');
  });
});
