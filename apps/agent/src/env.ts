import { z } from 'zod';
import { parseEnv, splitNodeToken } from '@ocdn/protocol';

const port = z.coerce.number().int().min(0).max(65535);
/** A command given as one string, split on spaces into an argument list (never run through a shell). */
const command = (def: string) =>
  z
    .string()
    .default(def)
    .transform((s) => s.trim().split(/\s+/).filter(Boolean))
    .refine((a) => a.length > 0, 'must name a program');

const MANAGER_URL = /^https?:\/\/[^/\s,]+\/?$/;

/** The manager replicas OCDN_MANAGER_URL names, in order. */
export function managerUrls(value: string): string[] {
  return value.split(',').map((u) => u.trim()).filter(Boolean);
}

/** Agent configuration (API.md lists these names). Parsed once at start-up; nothing else reads process.env. */
export const AgentEnv = z.object({
  /** http(s)://host:port of the manager, or a comma-separated list of replicas (managerUrls() splits it). */
  OCDN_MANAGER_URL: z
    .string({ error: 'is required' })
    .refine((s) => managerUrls(s).length > 0 && managerUrls(s).every((u) => MANAGER_URL.test(u)), 'must be http(s)://host:port, or several separated by commas'),
  /** The token returned when the node was registered: `<nodeId>.<secret>`. */
  OCDN_NODE_TOKEN: z
    .string({ error: 'is required' })
    .refine((t) => splitNodeToken(t) !== null, 'is not a node token (expected the token printed when the node was registered)'),
  /** The agent's own HTTP API. */
  OCDN_AGENT_HOST: z.string().min(1).default('0.0.0.0'),
  OCDN_AGENT_PORT: port.default(8081),
  /** cdn role: one nginx file per domain, the commands that test and reload nginx, and the proxy cache. */
  OCDN_NGINX_CONF_DIR: z.string().min(1).default('/etc/nginx/conf.d/ocdn'),
  OCDN_NGINX_TEST_CMD: command('nginx -t'),
  OCDN_NGINX_RELOAD_CMD: command('nginx -s reload'),
  /** Reload requests arriving within this window share one test and one reload. */
  OCDN_NGINX_RELOAD_WINDOW_MS: z.coerce.number().int().min(0).max(60_000).default(100),
  /**
   * After a reload that coalesced several requests (concurrent changes), the next starts no sooner than this: a
   * rollout of a thousand domains reloads nginx tens of times, not a thousand; one change at a time waits a window.
   */
  OCDN_NGINX_RELOAD_MIN_INTERVAL_MS: z.coerce.number().int().min(0).max(600_000).default(2000),
  OCDN_NGINX_CACHE_DIR: z.string().min(1).default('/var/cache/ocdn/nginx'),
  /** dns role. */
  OCDN_DNS_DRIVER: z.enum(['bind', 'unbound']).default('bind'),
  OCDN_BIND_INCLUDE_DIR: z.string().min(1).default('/etc/bind/ocdn'),
  OCDN_BIND_CHECKCONF_CMD: command('named-checkconf'),
  OCDN_RNDC_CMD: command('rndc'),
  OCDN_UNBOUND_INCLUDE_FILE: z.string().min(1).default('/etc/unbound/unbound.conf.d/ocdn-forward.conf'),
  OCDN_UNBOUND_CHECKCONF_CMD: command('unbound-checkconf'),
  OCDN_UNBOUND_CONTROL_CMD: command('unbound-control'),
  /** vod / vod-source roles: the file directory (a source server's SAN mount). */
  OCDN_FILES_DIR: z.string().min(1).default('/var/lib/ocdn/files'),
  /** When set, the file directory counts as a disk of this many bytes (GET /df reports it); else the real disk. */
  OCDN_FILES_CAPACITY_BYTES: z.coerce.number().int().positive().optional(),
  /** vod role: how often the worker asks for its tasks (the manager also tells it at once when they change). */
  OCDN_VOD_POLL_MS: z.coerce.number().int().min(100).default(5000),
  /** vod role: downloads at once from one source server. */
  OCDN_VOD_DOWNLOAD_CONCURRENCY: z.coerce.number().int().positive().default(2),
  /** vod role: cap on the bytes per second of all downloads together; 0 means no cap. */
  OCDN_VOD_BANDWIDTH_BPS: z.coerce.number().int().nonnegative().default(0),
  /**
   * vod role: a downloaded file is flushed to disk (fdatasync, then the directory) before it takes its name, so a
   * power cut cannot leave a file with lost blocks under a real name. `false` trades that for speed.
   */
  OCDN_VOD_FSYNC: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('true')
    .transform((v) => v === 'true'),
  /** Log level: error, warn, info, debug. */
  OCDN_LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug', 'silent']).default('info'),
  /** PEM files: the agent's HTTP API serves TLS (the node is then registered with `tls: true`). */
  OCDN_AGENT_TLS_CERT: z.string().min(1).optional(),
  OCDN_AGENT_TLS_KEY: z.string().min(1).optional(),
  /** PEM file trusted for an https:// manager; unset: the system store. */
  OCDN_MANAGER_CA: z.string().min(1).optional(),
  /** PEM file trusted for other agents' certificates (VOD downloads from a TLS source); default OCDN_MANAGER_CA. */
  OCDN_PEER_CA: z.string().min(1).optional(),
  /** Reconnect backoff cap. */
  OCDN_RECONNECT_MAX_MS: z.coerce.number().int().min(100).default(30_000),
}).superRefine((env, ctx) => {
  if (Boolean(env.OCDN_AGENT_TLS_CERT) !== Boolean(env.OCDN_AGENT_TLS_KEY)) {
    ctx.addIssue({ code: 'custom', path: [env.OCDN_AGENT_TLS_CERT ? 'OCDN_AGENT_TLS_KEY' : 'OCDN_AGENT_TLS_CERT'], message: 'OCDN_AGENT_TLS_CERT and OCDN_AGENT_TLS_KEY go together' });
  }
});
export type AgentEnv = z.infer<typeof AgentEnv>;


/** Parses the environment; throws an Error whose message names every bad variable. */
export function parseAgentEnv(source: Record<string, string | undefined>): AgentEnv {
  return parseEnv(AgentEnv, source, 'agent');
}
