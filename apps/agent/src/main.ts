import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { setFlagsFromString } from 'node:v8';
import { jitFlag } from './jit.ts';
import { PROTOCOL_VERSION, splitNodeToken, type NodeHeartbeatResponse } from '@ocdn/protocol';
import { managerUrls, parseAgentEnv, type AgentEnv } from './env.ts';
import { createAgentHttp } from './http.ts';
import { ManagerLink } from './link.ts';
import { createLogger, type Logger } from './log.ts';
import { cdnRole } from './cdn/role.ts';
import { dnsRole } from './dns/role.ts';
import { RoleGate } from './role.ts';
import { RpcDispatcher } from './rpc.ts';
import { loadAgentTls } from './tls.ts';
import { vodRole } from './vod/role.ts';

export const AGENT_VERSION = '0.1.0';

export interface RunningAgent {
  port: number;
  stop(): Promise<void>;
}

/** Starts the agent: its roles, its HTTP API and its link to the manager. */
export async function startAgent(env: AgentEnv, log: Logger): Promise<RunningAgent> {
  const nodeId = splitNodeToken(env.OCDN_NODE_TOKEN)!.nodeId;
  const startedAt = Date.now();
  const gate = new RoleGate();
  const uptimeSeconds = () => (Date.now() - startedAt) / 1000;
  const heartbeat = (): NodeHeartbeatResponse => ({ nodeId, agentVersion: AGENT_VERSION, protocolVersion: PROTOCOL_VERSION, uptimeSeconds: uptimeSeconds(), roles: gate.roles });

  const tls = loadAgentTls(env);
  const urls = managerUrls(env.OCDN_MANAGER_URL);
  let link: ManagerLink | undefined;
  const roles = [cdnRole(env, log, gate), dnsRole(env, log, gate), vodRole(env, log, gate, tls, () => link?.managerUrl ?? urls[0]!)];
  const rpc = new RpcDispatcher();
  rpc.register('node.heartbeat', async () => heartbeat());
  for (const role of roles) role.rpc(rpc);

  const listener = createAgentHttp({ token: env.OCDN_NODE_TOKEN, rpc, heartbeat, roles, log });
  const server = tls.server ? createHttpsServer({ ...tls.server }, listener) : createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.OCDN_AGENT_PORT, env.OCDN_AGENT_HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  link = new ManagerLink({
    managerUrls: urls,
    token: env.OCDN_NODE_TOKEN,
    ca: tls.managerCa,
    log,
    reconnectMaxMs: env.OCDN_RECONNECT_MAX_MS,
    uptimeSeconds,
    hello: async () => {
      const configs = (await Promise.all(roles.map((r) => r.held?.() ?? []))).flat().filter((c) => c.hash);
      return { type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: AGENT_VERSION, roles: gate.roles, configs };
    },
    onWelcome: (w) => {
      gate.welcome(w.roles);
      for (const role of roles) role.welcome();
      log.info({ roles: w.roles, heartbeatIntervalMs: w.heartbeatIntervalMs, managerVersion: w.managerVersion }, 'connected to manager');
    },
    onRequest: (method, params) => rpc.dispatch(method, params),
  });
  link.start();
  log.info({ nodeId, http: `${tls.server ? 'https' : 'http'}://${env.OCDN_AGENT_HOST}:${port}`, managers: urls }, 'agent started');

  return {
    port,
    async stop() {
      for (const role of roles) await role.stop?.();
      await link.stop();
      await tls.closeManagerDispatcher();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

async function main(): Promise<void> {
  const flag = jitFlag(process.execArgv);
  if (flag) setFlagsFromString(flag); // before any of the agent's code is hot
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
