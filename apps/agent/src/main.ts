import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { PROTOCOL_VERSION, splitNodeToken, type NodeHeartbeatResponse, type NodeRole } from '@ocdn/protocol';
import { parseAgentEnv, type AgentEnv } from './env.ts';
import { createAgentHttp } from './http.ts';
import { ManagerLink } from './link.ts';
import { createLogger, type Logger } from './log.ts';
import { NginxDriver } from './cdn/nginx.ts';
import { AgentRpcError, RpcDispatcher } from './rpc.ts';

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
  const heldConfigs = async () =>
    roles.includes('cdn') ? (await nginx.list()).map((c) => ({ kind: 'nginx', name: c.domain, version: c.version, hash: c.hash ?? '' })) : [];

  const app = createAgentHttp({ token: env.OCDN_NODE_TOKEN, rpc, heartbeat });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: env.OCDN_AGENT_HOST, port: env.OCDN_AGENT_PORT }, () => resolve(s as Server));
    (s as Server).once('error', reject);
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
      log.info({ roles, heartbeatIntervalMs: w.heartbeatIntervalMs, managerVersion: w.managerVersion }, 'connected to manager');
    },
    onRequest: (method, params) => rpc.dispatch(method, params),
  });
  link.start();
  log.info({ nodeId, http: `${env.OCDN_AGENT_HOST}:${port}`, manager: env.OCDN_MANAGER_URL }, 'agent started');

  return {
    port,
    async stop() {
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
