import type { AgentEnv } from '../env.ts';
import type { Logger } from '../log.ts';
import { startOnce, type AgentRole, type RoleGate } from '../role.ts';
import { NginxDriver } from './nginx.ts';

/** The cdn role: nginx configs per domain (OCDN_SYNC_CONF, OCDN_DEL_CONF, OCDN_NODE_RELOAD, OCDN_VER_CONF). */
export function cdnRole(env: AgentEnv, log: Logger, gate: RoleGate): AgentRole {
  const nginx = new NginxDriver({
    confDir: env.OCDN_NGINX_CONF_DIR,
    cacheDir: env.OCDN_NGINX_CACHE_DIR,
    testCmd: env.OCDN_NGINX_TEST_CMD,
    reloadCmd: env.OCDN_NGINX_RELOAD_CMD,
    coalesceMs: env.OCDN_NGINX_RELOAD_WINDOW_MS,
    minIntervalMs: env.OCDN_NGINX_RELOAD_MIN_INTERVAL_MS,
    maxIntervalMs: env.OCDN_NGINX_RELOAD_MAX_INTERVAL_MS,
    log: log.child({ driver: 'nginx' }),
  });
  const started = startOnce(() => nginx.start(), (err) => `nginx driver cannot start: ${err.message}`);
  const ready = async () => {
    gate.require('cdn');
    await started();
    return nginx;
  };
  return {
    rpc(rpc) {
      rpc.register('cdn.syncConf', async (p) => (await ready()).sync(p.domain, p.version, p.config));
      rpc.register('cdn.delConf', async (p) => (await ready()).remove(p.domain));
      rpc.register('cdn.reload', async (p) => (await ready()).reload(p.domain));
      rpc.register('cdn.verConf', async (p) => (await ready()).info(p.domain));
      rpc.register('cdn.listConf', async () => ({ items: await (await ready()).list() }));
    },
    async held() {
      if (!gate.has('cdn')) return [];
      return (await nginx.list()).map((c) => ({ kind: 'nginx', name: c.domain, version: c.version, hash: c.hash ?? '' }));
    },
    welcome() {
      if (gate.has('cdn')) void ready().catch((err: unknown) => log.error({ err: (err as Error).message }, 'cdn role unavailable'));
    },
  };
}
