// `npm run demo`: a one-machine CDN lab, the idea of Traffic Control's "CDN in a Box" without containers. It builds
// ocdn, starts the manager on its embedded database, an origin, two cdn agents each driving a private nginx on its
// own loopback address, adds one domain, prints what to try, and stops everything on Ctrl-C.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNginx, type NginxInstance } from '../test/support/nginx.ts';
import { AGENT_CJS, MANAGER_JS, MANAGER_LAUNCH_ENV, Proc, ROOT, freePort } from '../test/support/procs.ts';
import { findProgram } from '../test/support/programs.ts';
import { waitFor } from '../test/support/wait.ts';

const NODES = [
  { name: 'edge-1', ip: '127.0.0.2' },
  { name: 'edge-2', ip: '127.0.0.3' },
];
const DOMAIN = 'demo.example.com';

/** The usual port when it is free (so the printed commands look familiar), else any free one. */
async function preferPort(port: number): Promise<number> {
  const free = await new Promise<boolean>((resolve) => {
    const s = createNetServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  return free ? port : freePort();
}

async function main(): Promise<void> {
  const nginxPath = findProgram('nginx');
  if (!nginxPath) {
    console.error('ocdn demo: nginx is not installed. On Debian or Ubuntu: sudo apt-get install nginx-light (then run npm run demo again).');
    process.exit(1);
  }
  console.log('ocdn demo: building…');
  if (spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) process.exit(1);

  const dir = mkdtempSync(join(tmpdir(), 'ocdn-demo-'));
  const stops: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  let stopping = false; // read by the agents' exit handlers below
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nocdn demo: stopping everything…');
    for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => {});
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    const token = `demo_${randomBytes(18).toString('base64url')}`;
    const origin = createServer((req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.end(`hello from the origin: ${req.headers.host}${req.url} at ${new Date().toISOString()}\n`);
    });
    const originPort = await freePort();
    await new Promise<void>((r) => origin.listen(originPort, '127.0.0.1', () => r()));
    stops.push(() => new Promise<void>((r) => origin.close(() => r())));

    const httpPort = await preferPort(8080);
    const dnsPort = await preferPort(5353);
    const cdnPort = await preferPort(8088);
    const manager = new Proc('manager', [MANAGER_JS], {
      ...MANAGER_LAUNCH_ENV,
      OCDN_DATA_DIR: join(dir, 'data'),
      OCDN_ADMIN_TOKEN: token,
      OCDN_HTTP_PORT: String(httpPort),
      OCDN_DNS_PORT: String(dnsPort),
      OCDN_CDN_LISTEN: `{ip}:${cdnPort}`,
      OCDN_LOG_LEVEL: 'warn',
    });
    stops.push(() => manager.stop());
    const api = `http://127.0.0.1:${httpPort}`;
    const call = async (path: string, body?: unknown) => {
      const r = await fetch(`${api}${path}`, {
        method: body ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const json = (await r.json()) as any;
      if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    await waitFor('the manager', async () => {
      if (!manager.running) throw new Error(`the manager exited:\n${manager.output}`);
      return (await fetch(`${api}/healthz`).catch(() => null))?.ok;
    }, { timeoutMs: 30_000 });

    const agents: { name: string; ip: string; id: string; proc: Proc }[] = [];
    for (const n of NODES) {
      const nginx: NginxInstance = startNginx(nginxPath, join(dir, n.name));
      stops.push(() => nginx.stop());
      const agentPort = await freePort(n.ip);
      const r = await call('/api/v1/nodes', { name: n.name, ip: n.ip, roles: ['cdn'], agentPort });
      const env = {
        OCDN_MANAGER_URL: api,
        OCDN_NODE_TOKEN: r.token as string,
        OCDN_AGENT_HOST: n.ip,
        OCDN_AGENT_PORT: String(agentPort),
        ...nginx.agentEnv,
        OCDN_LOG_LEVEL: 'warn',
      };
      // An agent that dies (kill -9 it to watch a failover) is started again after 10 s (to watch the recovery).
      const entry = { ...n, id: r.node.id as string, proc: null as unknown as Proc };
      const start = () => {
        const proc = new Proc(n.name, [AGENT_CJS], env);
        entry.proc = proc;
        void proc.exited.then(() => {
          if (stopping) return;
          console.log(`ocdn demo: ${n.name}'s agent exited; FAULT_NODE takes ${n.ip} out of DNS in ~3 s. It starts again in 10 s.`);
          setTimeout(() => {
            if (stopping) return;
            start();
            console.log(`ocdn demo: ${n.name}'s agent started again (pid ${entry.proc.child.pid}); RECOVER_NODE publishes ${n.ip} after three good heartbeats.`);
          }, 10_000).unref();
        });
      };
      start();
      stops.push(() => entry.proc.stop());
      agents.push(entry);
    }
    for (const a of agents) await waitFor(`${a.name} normal`, async () => (await call(`/api/v1/nodes/${a.id}`)).status === 'normal', { timeoutMs: 30_000 });
    const added = await call('/api/v1/domains', { domain: DOMAIN, origins: [`http://127.0.0.1:${originPort}`] });
    await waitFor(`${DOMAIN} complete`, async () => (await call(`/api/v1/domains/${DOMAIN}`)).status === 'complete', { timeoutMs: 30_000 });
    const cname = added.domain.cname as string;

    console.log(`
ocdn demo is ready (Ctrl-C stops everything and removes ${dir}).

  manager   ${api}   (API docs: ${api}/docs)
  token     export TOKEN=${token}
  origin    http://127.0.0.1:${originPort}
  nodes     ${agents.map((a) => `${a.name} ${a.ip} (agent pid ${a.proc.child.pid})`).join(', ')}
  domain    ${DOMAIN} → ${cname}

Try:
  curl -i -H 'Host: ${DOMAIN}' http://${NODES[0]!.ip}:${cdnPort}/hello      # through edge-1's nginx cache
  curl -i -H 'Host: ${DOMAIN}' http://${NODES[1]!.ip}:${cdnPort}/hello      # through edge-2's
  dig @127.0.0.1 -p ${dnsPort} ${cname} A +short                     # both node addresses
  curl -s ${api}/api/v1/pipelines -H "Authorization: Bearer $TOKEN"   # ADD_NODE, ADD_DOMAIN and their steps

  kill -9 ${agents[1]!.proc.child.pid}   # edge-2's agent dies: in ~3 s FAULT_NODE takes ${NODES[1]!.ip} out of DNS (dig again);
                     # the demo starts it again 10 s later and RECOVER_NODE publishes it again
`);
    console.log('ocdn demo: ready');
  } catch (err) {
    console.error(`ocdn demo: ${(err as Error).message}`);
    await stopAll(1);
  }
}

void main();
