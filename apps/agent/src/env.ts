import * as z from 'zod/mini';
import { parseEnv, splitNodeToken } from '@ocdn/protocol';

/** A whole number from the environment's text, within bounds. */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().check(z.int(), z.gte(min), z.lte(max));
const port = int(0, 65535);
/** A non-empty string, with a default or optional. */
const text = (def: string) => z._default(z.string().check(z.minLength(1)), def);
const optionalText = () => z.optional(z.string().check(z.minLength(1)));
/** A command given as one string, split on spaces into an argument list (never run through a shell). */
const command = (def: string) =>
  z.pipe(z._default(z.string(), def), z.transform((s: string) => s.trim().split(/\s+/).filter(Boolean))).check(z.refine((a) => a.length > 0, 'must name a program'));

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
    .check(z.refine((s) => managerUrls(s).length > 0 && managerUrls(s).every((u) => MANAGER_URL.test(u)), 'must be http(s)://host:port, or several separated by commas')),
  /** The token returned when the node was registered: `<nodeId>.<secret>`. */
  OCDN_NODE_TOKEN: z
    .string({ error: 'is required' })
    .check(z.refine((t) => splitNodeToken(t) !== null, 'is not a node token (expected the token printed when the node was registered)')),
  /** The agent's own HTTP API. */
  OCDN_AGENT_HOST: text('0.0.0.0'),
  OCDN_AGENT_PORT: z._default(port, 8081),
  /** cdn role: one nginx file per domain, the commands that test and reload nginx, and the proxy cache. */
  OCDN_NGINX_CONF_DIR: text('/etc/nginx/conf.d/ocdn'),
  OCDN_NGINX_TEST_CMD: command('nginx -t'),
  OCDN_NGINX_RELOAD_CMD: command('nginx -s reload'),
  /** Reload requests arriving within this window share one test and one reload. */
  OCDN_NGINX_RELOAD_WINDOW_MS: z._default(int(0, 60_000), 100),
  /**
   * After a reload that coalesced several requests (concurrent changes), the next starts no sooner than this: a
   * rollout of a thousand domains reloads nginx tens of times, not a thousand; one change at a time waits a window.
   */
  OCDN_NGINX_RELOAD_MIN_INTERVAL_MS: z._default(int(0, 600_000), 2000),
  /**
   * While reloads keep coalescing several requests (a rollout), the interval doubles after each, up to this; it is
   * back to the minimum once a reload serves one request or the node is quiet for an interval. Each reload is two
   * commands (test, reload) and makes nginx parse every config and start new workers.
   */
  OCDN_NGINX_RELOAD_MAX_INTERVAL_MS: z._default(int(0, 600_000), 8000),
  OCDN_NGINX_CACHE_DIR: text('/var/cache/ocdn/nginx'),
  /** dns role. */
  OCDN_DNS_DRIVER: z._default(z.enum(['bind', 'unbound']), 'bind'),
  OCDN_BIND_INCLUDE_DIR: text('/etc/bind/ocdn'),
  OCDN_BIND_CHECKCONF_CMD: command('named-checkconf'),
  OCDN_RNDC_CMD: command('rndc'),
  OCDN_UNBOUND_INCLUDE_FILE: text('/etc/unbound/unbound.conf.d/ocdn-forward.conf'),
  OCDN_UNBOUND_CHECKCONF_CMD: command('unbound-checkconf'),
  OCDN_UNBOUND_CONTROL_CMD: command('unbound-control'),
  /** vod / vod-source roles: the file directory (a source server's SAN mount). */
  OCDN_FILES_DIR: text('/var/lib/ocdn/files'),
  /** When set, the file directory counts as a disk of this many bytes (GET /df reports it); else the real disk. */
  OCDN_FILES_CAPACITY_BYTES: z.optional(int(1)),
  /** vod role: how often the worker asks for its tasks (the manager also tells it at once when they change). */
  OCDN_VOD_POLL_MS: z._default(int(100), 5000),
  /** vod role: downloads at once from one source server. */
  OCDN_VOD_DOWNLOAD_CONCURRENCY: z._default(int(1), 2),
  /** vod role: cap on the bytes per second of all downloads together; 0 means no cap. */
  OCDN_VOD_BANDWIDTH_BPS: z._default(int(0), 0),
  /**
   * vod role: a downloaded file is flushed to disk (fdatasync, then the directory) before it takes its name, so a
   * power cut cannot leave a file with lost blocks under a real name. `false` trades that for speed.
   */
  OCDN_VOD_FSYNC: z.pipe(z._default(z.enum(['true', 'false'], { error: 'must be true or false' }), 'true'), z.transform((v: 'true' | 'false') => v === 'true')),
  /** Log level: error, warn, info, debug. */
  OCDN_LOG_LEVEL: z._default(z.enum(['error', 'warn', 'info', 'debug', 'silent']), 'info'),
  /** PEM files: the agent's HTTP API serves TLS (the node is then registered with `tls: true`). */
  OCDN_AGENT_TLS_CERT: optionalText(),
  OCDN_AGENT_TLS_KEY: optionalText(),
  /** PEM file trusted for an https:// manager; unset: the system store. */
  OCDN_MANAGER_CA: optionalText(),
  /** PEM file trusted for other agents' certificates (VOD downloads from a TLS source); default OCDN_MANAGER_CA. */
  OCDN_PEER_CA: optionalText(),
  /** Reconnect backoff cap. */
  OCDN_RECONNECT_MAX_MS: z._default(int(100), 30_000),
}).check(
  z.superRefine((env, ctx) => {
    if (Boolean(env.OCDN_AGENT_TLS_CERT) !== Boolean(env.OCDN_AGENT_TLS_KEY)) {
      ctx.addIssue({ code: 'custom', path: [env.OCDN_AGENT_TLS_CERT ? 'OCDN_AGENT_TLS_KEY' : 'OCDN_AGENT_TLS_CERT'], message: 'OCDN_AGENT_TLS_CERT and OCDN_AGENT_TLS_KEY go together' });
    }
  }),
);
export type AgentEnv = z.infer<typeof AgentEnv>;


/** Parses the environment; throws an Error whose message names every bad variable. */
export function parseAgentEnv(source: Record<string, string | undefined>): AgentEnv {
  return parseEnv(AgentEnv, source, 'agent');
}
