import { isIP } from 'node:net';
import { z } from 'zod';
import { parseEnv } from '@ocdn/protocol';
import { parseServer } from './dns/rfc2136.ts';

/** `ns1.example=192.0.2.1,ns2.example=2001:db8::1` → entries; null when any entry is not `name=ip`. */
export function parseNameServers(value: string): { name: string; ip: string }[] | null {
  const entries = value.split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (entries.length === 0) return null;
  const out: { name: string; ip: string }[] = [];
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq).trim().toLowerCase().replace(/\.$/, '');
    const ip = entry.slice(eq + 1).trim();
    if (eq < 1 || !/^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/.test(name) || isIP(ip) === 0) return null;
    out.push({ name, ip });
  }
  return out;
}

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

/**
 * Manager configuration: every variable it reads, with its default. Parsed once at start-up; nothing else reads
 * process.env. API.md lists these names; they are a contract.
 */
export const ManagerEnv = z
  .object({
    /** Address and port of the admin and agent HTTP API. */
    OCDN_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
    OCDN_HTTP_PORT: port.default(8080),
    /** postgres://… ; when unset the embedded PGlite database in OCDN_DATA_DIR is used. */
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    /** Embedded database and local state. */
    OCDN_DATA_DIR: z.string().min(1).default('./data'),
    /** The embedded database's shared_buffers: its memory, held for good (PGlite's own default is 128MB). */
    OCDN_PGLITE_SHARED_BUFFERS: z
      .string()
      .regex(/^[0-9]{1,3}(kB|MB)$/, 'must be a size such as 16MB or 512kB (at most 999MB)')
      .default('16MB'),
    /** Admin bearer token; when unset one is generated on first start, printed once and stored hashed. */
    OCDN_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    /** DNS provider for CDN names. */
    OCDN_DNS_PROVIDER: z.enum(['builtin', 'rfc2136']).default('builtin'),
    OCDN_DNS_ZONE: z.string().min(1).default('cdn.ocdn.test'),
    OCDN_DNS_HOST: z.string().min(1).default('127.0.0.1'),
    OCDN_DNS_PORT: port.default(5353),
    OCDN_DNS_TTL: positiveInt.default(30),
    /**
     * Name servers of the zone, `name=ip` separated by commas (every replica's built-in DNS, so that resolvers
     * reach another when one is down): NS at the apex, with glue for names inside the zone. Default: one entry,
     * `ns.<OCDN_DNS_ZONE>=<OCDN_DNS_HOST>`.
     */
    OCDN_DNS_NS: z
      .string()
      .refine((s) => parseNameServers(s) !== null, 'must be a comma-separated list of name=ip (e.g. ns1.cdn.example=192.0.2.1,ns2.cdn.example=192.0.2.2)')
      .optional(),
    /** At most this many addresses in one answer, rotated across queries (0: every address). */
    OCDN_DNS_MAX_ANSWERS: z.coerce.number().int().min(0).max(1000).default(8),
    /**
     * The nice value of the built-in DNS's answering thread (its process's, or its own): below 0 it answers ahead of pipeline work on a busy machine (needs
     * CAP_SYS_NICE; without it the manager warns and the thread keeps normal priority). `off` leaves it alone.
     */
    OCDN_DNS_NICE: z
      .union([z.literal('off').transform(() => null), z.coerce.number().int().min(-20).max(19)])
      .default(-10),
    /**
     * The real-time (SCHED_RR) priority of the built-in DNS's answering thread, 1–99: a query takes a busy core at once instead
     * of waiting out another thread's time slice (needs CAP_SYS_NICE; without it the manager warns). `off`: the normal
     * scheduler, OCDN_DNS_NICE alone.
     */
    OCDN_DNS_RT_PRIORITY: z
      .union([z.literal('off').transform(() => null), z.coerce.number().int().min(1).max(99)])
      .default(1),
    /**
     * Where the built-in DNS answers: `thread` (a thread of the manager's, ~10 MiB) or `process` (a `node` of its
     * own, ~42 MiB more resident, most of it the binary's pages counted again; a fault in the manager's process
     * cannot take the answers down).
     */
    OCDN_DNS_ISOLATION: z.enum(['thread', 'process']).default('thread'),
    /**
     * Processes answering the built-in DNS's queries on the same port, for more queries per second than one core
     * answers (needs OCDN_DNS_ISOLATION=process). Each takes the DNS priority, so under a query flood each can hold
     * a core: keep it below the machine's cores.
     */
    OCDN_DNS_ANSWERERS: z.coerce.number().int().min(1).max(64).default(1),
    /** rfc2136 provider: `host:port` of the primary that takes updates, and the TSIG key (secret in base64). */
    OCDN_RFC2136_SERVER: z
      .string()
      .refine((s) => parseServer(s) !== null, 'must be host:port (IPv6 as [addr]:port)')
      .optional(),
    OCDN_RFC2136_TSIG_NAME: z.string().min(1).max(253).optional(),
    OCDN_RFC2136_TSIG_ALGORITHM: z.enum(['hmac-sha256', 'hmac-sha512', 'hmac-sha1']).default('hmac-sha256'),
    OCDN_RFC2136_TSIG_SECRET: z
      .string()
      .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64')
      .optional(),
    /** What generated nginx `listen` lines say; `{ip}` is replaced by the node's ip (e.g. `{ip}:8080`). */
    OCDN_CDN_LISTEN: z.string().min(1).regex(/^[^;{}\n]*(\{ip\}[^;{}\n]*)*$/, 'must be a listen argument such as 80 or {ip}:8080').default('80'),
    /** Health check period, and consecutive misses / successes that change a node's health. */
    /** PEM file trusted for agents' TLS certificates (nodes registered with tls are reached over https only). */
    OCDN_AGENT_CA: z.string().min(1).optional(),
    /** PEM files: the manager serves its HTTP API (admin, agents, console) over TLS. */
    OCDN_HTTP_TLS_CERT: z.string().min(1).optional(),
    OCDN_HTTP_TLS_KEY: z.string().min(1).optional(),
    /** Audit entries older than this are deleted (by one replica, hourly). */
    OCDN_AUDIT_RETENTION_DAYS: positiveInt.default(365),
    /** After a node token is rotated, the old one keeps working until the agent uses the new one, or this long. */
    OCDN_NODE_TOKEN_GRACE_S: z.coerce.number().int().min(0).default(3600),
    OCDN_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(50).default(1000),
    OCDN_FAULT_AFTER: positiveInt.default(3),
    OCDN_RECOVER_AFTER: positiveInt.default(3),
    /**
     * `thread`: a thread of the manager's, at the DNS answerer's priority (OCDN_DNS_NICE, OCDN_DNS_RT_PRIORITY), holds a
     * heartbeat stream open to each normal node's agent (`GET /heartbeat/watch`) and decides a dead agent `fault` on
     * its own database connection, without waiting behind pipeline work. One more connection per agent. `off`: the
     * agent's link to the manager is the only such evidence. `auto` (default): `thread`. On the embedded database, which
     * lives on the manager's thread, the thread hands the decision over and raises the manager's thread to its own nice
     * value until it is written.
     */
    OCDN_HEALTH_WATCH: z.enum(['auto', 'thread', 'off']).default('auto'),
    /**
     * Domain-nodes the domain runs executing on one replica may hold at once (a domain onto 50 nodes counts 50); more
     * runs wait their turn, oldest first. Bounds the memory of a large rollout; node runs never wait for it.
     */
    OCDN_PIPELINE_MAX_DOMAIN_NODES: positiveInt.default(50_000),
    /**
     * FAULT_NODE and RECOVER_NODE runs executing on one replica at once; more wait their turn in the order they came
     * (a whole fleet failing and recovering at once). ADD_NODE and REMOVE_NODE never wait.
     */
    OCDN_PIPELINE_MAX_HEALTH_RUNS: positiveInt.default(200),
    /** Log level (pino): fatal, error, warn, info, debug, trace, silent. */
    OCDN_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Bytes a live-events client (a console) may fall behind before it is dropped (it reconnects and resumes). */
    OCDN_EVENTS_CLIENT_BUFFER_BYTES: positiveInt.default(1024 * 1024),
    /** A comment line this often keeps live-event streams open through proxies; the caller is checked again then. */
    OCDN_EVENTS_KEEPALIVE_S: positiveInt.default(15),
    /** Largest request body the HTTP API accepts, in bytes. */
    OCDN_MAX_BODY_BYTES: positiveInt.default(1024 * 1024),
    /** IANA zone for time schedulers without their own; unset: the system's zone. */
    OCDN_TZ: z
      .string()
      .min(1)
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'must be an IANA time zone such as Europe/Berlin')
      .optional(),
    /** Period of the forward-zone scheduler; ticks fall on its boundaries. */
    OCDN_FORWARD_TICK_MS: z.coerce.number().int().min(100).default(60_000),
    /** VOD placement: folder of `.hitcount.history` and `.grade.info`; placement is off when unset. */
    OCDN_VOD_META_DIR: z.string().min(1).optional(),
    /** Period of each VOD loop (heartbeat, file remover, task manager). */
    OCDN_VOD_LOOP_MS: z.coerce.number().int().min(100).default(10_000),
    /** Disk use % of a VOD server that starts eviction, and where eviction stops. */
    OCDN_VOD_DISK_HIGH: z.coerce.number().min(1).max(100).default(90),
    OCDN_VOD_DISK_LOW: z.coerce.number().min(0).max(100).default(80),
    /** A task unchanged this long is taken out of the queue. */
    OCDN_VOD_TASK_TIMEOUT_MS: z.coerce.number().int().min(1000).default(1_800_000),
    /** Tasks at once per source server. */
    OCDN_VOD_SOURCE_CONCURRENCY: positiveInt.default(2),
    /** Lifetime of the signed URLs through which VOD servers fetch files from the sources. */
    OCDN_VOD_URL_TTL_S: positiveInt.default(3600),
    })
  .superRefine((env, ctx) => {
    if (env.OCDN_VOD_DISK_LOW >= env.OCDN_VOD_DISK_HIGH) {
      ctx.addIssue({ code: 'custom', path: ['OCDN_VOD_DISK_LOW'], message: `must be below OCDN_VOD_DISK_HIGH (${env.OCDN_VOD_DISK_HIGH})` });
    }
    if (Boolean(env.OCDN_HTTP_TLS_CERT) !== Boolean(env.OCDN_HTTP_TLS_KEY)) {
      ctx.addIssue({ code: 'custom', path: [env.OCDN_HTTP_TLS_CERT ? 'OCDN_HTTP_TLS_KEY' : 'OCDN_HTTP_TLS_CERT'], message: 'OCDN_HTTP_TLS_CERT and OCDN_HTTP_TLS_KEY go together' });
    }
    if (env.OCDN_DNS_ANSWERERS > 1 && env.OCDN_DNS_ISOLATION !== 'process') {
      ctx.addIssue({ code: 'custom', path: ['OCDN_DNS_ANSWERERS'], message: "above 1 needs OCDN_DNS_ISOLATION=process (threads of one process cannot share the port on this node)" });
    }
    if (env.OCDN_DNS_PROVIDER !== 'rfc2136') return;
    for (const key of ['OCDN_RFC2136_SERVER', 'OCDN_RFC2136_TSIG_NAME', 'OCDN_RFC2136_TSIG_SECRET'] as const) {
      if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'is required with OCDN_DNS_PROVIDER=rfc2136' });
    }
  });

export type ManagerEnv = z.infer<typeof ManagerEnv>;

/** Parses the environment; throws an Error whose message names every bad variable. */
export function parseManagerEnv(source: Record<string, string | undefined>): ManagerEnv {
  return parseEnv(ManagerEnv, source, 'manager');
}
