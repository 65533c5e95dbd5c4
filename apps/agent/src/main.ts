import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { PROTOCOL_VERSION, splitNodeToken, type NodeHeartbeatResponse, type NodeRole } from '@ocdn/protocol';
import { parseAgentEnv, type AgentEnv } from './env.ts';
import { createAgentHttp } from './http.ts';
import { ManagerLink } from './link.ts';
import { createLogger, type Logger } from './log.ts';
import { NginxDriver } from './cdn/nginx.ts';
import { DnsDriver } from './dns/driver.ts';
import { AgentRpcError, RpcDispatcher } from './rpc.ts';
import { createFileHandler, type ServedStats } from './vod/serve.ts';
import { FileStore } from './vod/store.ts';
import { VodWorker } from './vod/worker.ts';

export const AGENT_VERSION = '0.1.0';

export interface RunningAgent {
  port: number;
  stop(): Promise<void>;
}

/** Starts the agent: its HTTP API and its link to the manager. */
export async function startAgent(env: AgentEnv, log: Logger): Promise<RunningAgent> {
  const nodeId = splitNodeToken(env.OCDN_NODE_TOKEN)!.nodeId;
  const startedAt = Date.now();
  let roles: NodeRole[] = [];
  const uptimeSeconds = () => (Date.now() - startedAt) / 1000;
  const heartbeat = (): NodeHeartbeatResponse => ({ nodeId, agentVersion: AGENT_VERSION, protocolVersion: PROTOCOL_VERSION, uptimeSeconds: uptimeSeconds(), roles });

  const rpc = new RpcDispatcher();
  rpc.register('node.heartbeat', async () => heartbeat());

  // Role drivers. Roles come from the manager's welcome; until the first one, calls are not refused for role.
  let rolesKnown = false;
  const requireRole = (role: NodeRole) => {
    if (rolesKnown && !roles.includes(role)) throw new AgentRpcError('role_not_enabled', `this node does not have the ${role} role`);
  };
  const nginx = new NginxDriver({
    confDir: env.OCDN_NGINX_CONF_DIR,
    cacheDir: env.OCDN_NGINX_CACHE_DIR,
    testCmd: env.OCDN_NGINX_TEST_CMD,
    reloadCmd: env.OCDN_NGINX_RELOAD_CMD,
    coalesceMs: env.OCDN_NGINX_RELOAD_WINDOW_MS,
    minIntervalMs: env.OCDN_NGINX_RELOAD_MIN_INTERVAL_MS,
    log: log.child({ driver: 'nginx' }),
  });
  let nginxReady: Promise<void> | null = null;
  const cdn = async () => {
    requireRole('cdn');
    nginxReady ??= nginx.start().catch((err: unknown) => {
      nginxReady = null;
      throw new AgentRpcError('driver_unavailable', `nginx driver cannot start: ${(err as Error).message}`);
    });
    await nginxReady;
    return nginx;
  };
  rpc.register('cdn.syncConf', async (p) => (await cdn()).sync(p.domain, p.version, p.config));
  rpc.register('cdn.delConf', async (p) => (await cdn()).remove(p.domain));
  rpc.register('cdn.reload', async (p) => (await cdn()).reload(p.domain));
  rpc.register('cdn.verConf', async (p) => (await cdn()).info(p.domain));
  rpc.register('cdn.listConf', async () => ({ items: await (await cdn()).list() }));
  const dns = new DnsDriver({
    driver: env.OCDN_DNS_DRIVER,
    bindIncludeDir: env.OCDN_BIND_INCLUDE_DIR,
    bindCheckconfCmd: env.OCDN_BIND_CHECKCONF_CMD,
    rndcCmd: env.OCDN_RNDC_CMD,
    unboundIncludeFile: env.OCDN_UNBOUND_INCLUDE_FILE,
    unboundCheckconfCmd: env.OCDN_UNBOUND_CHECKCONF_CMD,
    unboundControlCmd: env.OCDN_UNBOUND_CONTROL_CMD,
    log: log.child({ driver: env.OCDN_DNS_DRIVER }),
  });
  rpc.register('dns.apply', async (p) => {
    requireRole('dns');
    return dns.apply(p);
  });
  const heldConfigs = async () => [
    ...(roles.includes('cdn') ? (await nginx.list()).map((c) => ({ kind: 'nginx', name: c.domain, version: c.version, hash: c.hash ?? '' })) : []),
    ...(roles.includes('dns') ? await dns.held().then((h) => (h ? [{ kind: 'dns', name: 'forwarding', version: null, hash: h.hash }] : []), () => []) : []),
  ];

  // vod / vod-source: the file directory (a source's SAN mount) and, on a VOD server, the worker.
  const files = new FileStore({ dir: env.OCDN_FILES_DIR, capacityBytes: env.OCDN_FILES_CAPACITY_BYTES });
  let filesReady: Promise<void> | null = null;
  const store = async () => {
    if (rolesKnown && !roles.includes('vod') && !roles.includes('vod-source')) {
      throw new AgentRpcError('role_not_enabled', 'this node has neither the vod nor the vod-source role');
    }
    filesReady ??= files.start().catch((err: unknown) => {
      filesReady = null;
      throw new AgentRpcError('driver_unavailable', `file directory ${env.OCDN_FILES_DIR} unusable: ${(err as Error).message}`);
    });
    await filesReady;
    return files;
  };
  const worker = new VodWorker({
    store: files,
    managerUrl: env.OCDN_MANAGER_URL,
    token: env.OCDN_NODE_TOKEN,
    log: log.child({ component: 'vod-worker' }),
    pollMs: env.OCDN_VOD_POLL_MS,
    perSourceConcurrency: env.OCDN_VOD_DOWNLOAD_CONCURRENCY,
    bandwidthBps: env.OCDN_VOD_BANDWIDTH_BPS,
    durable: env.OCDN_VOD_FSYNC,
  });
  let workerStarted = false;
  rpc.register('vod.files', async () => ({ items: await (await store()).list() }));
  rpc.register('vod.df', async () => (await store()).df());
  rpc.register('vod.deleteFile', async (p) => (await store()).remove(p.name));
  rpc.register('vod.tasksChanged', async () => {
    if (workerStarted) worker.kick();
    return { accepted: workerStarted };
  });
  const served: ServedStats = {};
  const serveFile = createFileHandler({ store: files, token: env.OCDN_NODE_TOKEN, log, stats: served });

  const app = createAgentHttp({ token: env.OCDN_NODE_TOKEN, rpc, heartbeat, vod: { store, stats: served } });
  const honoListener = getRequestListener(app.fetch);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    const m = /^\/files\/([^/]+)$/.exec(url.pathname);
    if (m && (req.method === 'GET' || req.method === 'HEAD')) {
      store()
        .then(() => serveFile(req, res, m[1]!, url.searchParams))
        .catch((err: unknown) => {
          if (res.headersSent) return void res.destroy();
          const status = err instanceof AgentRpcError && err.code === 'role_not_enabled' ? 409 : 500;
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: (err as AgentRpcError).code ?? 'internal', message: (err as Error).message } }));
        });
      return;
    }
    void honoListener(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.OCDN_AGENT_PORT, env.OCDN_AGENT_HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const link = new ManagerLink({
    managerUrl: env.OCDN_MANAGER_URL,
    token: env.OCDN_NODE_TOKEN,
    log,
    reconnectMaxMs: env.OCDN_RECONNECT_MAX_MS,
    uptimeSeconds,
    hello: async () => ({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: AGENT_VERSION, roles, configs: (await heldConfigs()).filter((c) => c.hash) }),
    onWelcome: (w) => {
      roles = w.roles;
      rolesKnown = true;
      if (roles.includes('cdn')) void cdn().catch((err: unknown) => log.error({ err: (err as Error).message }, 'cdn role unavailable'));
      if (roles.includes('vod') || roles.includes('vod-source')) void store().catch((err: unknown) => log.error({ err: (err as Error).message }, 'vod role unavailable'));
      if (roles.includes('vod') && !workerStarted) {
        workerStarted = true;
        void store().then(() => worker.start(), () => {});
      }
      log.info({ roles, heartbeatIntervalMs: w.heartbeatIntervalMs, managerVersion: w.managerVersion }, 'connected to manager');
    },
    onRequest: (method, params) => rpc.dispatch(method, params),
  });
  link.start();
  log.info({ nodeId, http: `${env.OCDN_AGENT_HOST}:${port}`, manager: env.OCDN_MANAGER_URL }, 'agent started');

  return {
    port,
    async stop() {
      await worker.stop();
      await link.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

async function main(): Promise<void> {
  let env: AgentEnv;
  try {
    env = parseAgentEnv(process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = createLogger(env.OCDN_LOG_LEVEL, { nodeId: splitNodeToken(env.OCDN_NODE_TOKEN)!.nodeId });
  let agent: RunningAgent;
  try {
    agent = await startAgent(env, log);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'agent failed to start');
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    setTimeout(() => process.exit(1), 10_000).unref();
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (process.env.OCDN_AGENT_NO_MAIN !== '1') void main();
