import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer, isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from './wait.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MANAGER_JS = join(ROOT, 'apps/manager/dist/main.js');
export const AGENT_CJS = join(ROOT, 'apps/agent/dist/ocdn-agent.cjs');

/** Ports this process handed out: two calls in a row never return the same one. */
const handedOut = new Set<number>();

/**
 * Ports are picked below Linux's ephemeral range (32768–60999): a port the kernel gave out for `listen(0)` is
 * also one it may give an outgoing connection (a database client, an agent's link) a moment later, and a manager
 * then fails to bind it (EADDRINUSE). Nothing takes a port from this range unasked.
 */
const LOW = 20_000;
const HIGH = 32_767;

function bindsTcp(port: number, host: string): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, host, () => s.close(() => res(true)));
  });
}

function bindsUdp(port: number, host: string): Promise<boolean> {
  return new Promise((res) => {
    const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    s.once('error', () => {
      s.close();
      res(false);
    });
    s.bind(port, host, () => s.close(() => res(true)));
  });
}

/** A port free for TCP and UDP on `host`, never one this process handed out before. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (handedOut.has(port)) continue;
    if (!(await bindsTcp(port, host)) || !(await bindsUdp(port, host))) continue;
    handedOut.add(port);
    return port;
  }
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `ocdn-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A child process whose output is kept (and shown when a test fails). */
export class Proc {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(name: string, args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      this.output += d.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
    if (process.env.OCDN_TEST_VERBOSE) this.child.stdout!.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d}`));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

export interface ManagerHandle {
  proc: Proc;
  url: string;
  port: number;
  adminToken: string;
  api(path: string, init?: RequestInit): Promise<Response>;
  json<T = any>(path: string, init?: RequestInit): Promise<T>;
}

export const ADMIN_TOKEN = 'e2e-admin-token-0123456789';

/**
 * The environment every shipped launcher gives the manager (`npm start` through scripts/start-manager.sh,
 * deploy/ocdn-manager.service): jemalloc where the system has it, glibc's threshold as the fallback. Asked of the
 * script itself (`--print-env`), so that it is written down once.
 */
export const MANAGER_LAUNCH_ENV: Readonly<Record<string, string>> = launchEnvOfScript();

function launchEnvOfScript(): Record<string, string> {
  const r = spawnSync('sh', [join(ROOT, 'scripts/start-manager.sh'), '--print-env'], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
  const env = Object.fromEntries(r.stdout.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  if (r.status !== 0 || !env.MALLOC_MMAP_THRESHOLD_) throw new Error(`scripts/start-manager.sh --print-env failed (${r.status}): ${r.stderr}`);
  return env;
}

/** What README "Running in production" (and deploy/manager.env.example) advises for a manager on PostgreSQL. */
export const MANAGER_POSTGRES_ENV = { MALLOC_MMAP_THRESHOLD_: '131072', NODE_OPTIONS: '--max-semi-space-size=64' } as const;

/** Starts the built manager (apps/manager/dist/main.js) and waits for /healthz. */
export async function startManagerProcess(env: Record<string, string>, opts: { nodeArgs?: string[] } = {}): Promise<ManagerHandle> {
  const port = env.OCDN_HTTP_PORT ? Number(env.OCDN_HTTP_PORT) : await freePort();
  const proc = new Proc('manager', [...(opts.nodeArgs ?? []), MANAGER_JS], { ...MANAGER_LAUNCH_ENV, OCDN_HTTP_PORT: String(port), OCDN_DNS_PORT: '0', OCDN_ADMIN_TOKEN: ADMIN_TOKEN, ...env });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'manager /healthz',
    async () => {
      if (!proc.running) throw new Error(`manager exited:\n${proc.output.slice(-3000)}`);
      const r = await fetch(`${url}/healthz`).catch(() => null);
      return r?.ok;
    },
    { timeoutMs: 30_000 },
  ).catch(async (err: unknown) => {
    if (!proc.running) throw err; // its output is in the error already
    // A manager that never answered: what it said is the only clue, and it must not outlive the test.
    const said = proc.output.slice(-3000);
    await proc.stop(2_000);
    throw new Error(`${(err as Error).message}; the manager said:\n${said}`, { cause: err });
  });
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as object) },
    });
  return {
    proc,
    url,
    port,
    adminToken: ADMIN_TOKEN,
    api,
    async json(path, init) {
      const r = await api(path, init);
      const body = (await r.json()) as any;
      if (!r.ok) throw new Error(`${init?.method ?? 'GET'} ${path} → ${r.status} ${JSON.stringify(body)}`);
      return body;
    },
  };
}

/** The environment the agent's unit gives the agent (deploy/ocdn-agent.service): see there. */
export const AGENT_LAUNCH_ENV = { MALLOC_MMAP_THRESHOLD_: '131072' } as const;

/** Starts the agent bundle (apps/agent/dist/ocdn-agent.cjs, or `bundle`) on its own loopback address, as its unit would. */
export function startAgentProcess(
  managerUrl: string,
  token: string,
  host: string,
  port: number,
  env: Record<string, string> = {},
  opts: { nodeArgs?: string[]; bundle?: string } = {},
): Proc {
  return new Proc(`agent@${host}`, [...(opts.nodeArgs ?? []), opts.bundle ?? AGENT_CJS], {
    ...AGENT_LAUNCH_ENV,
    OCDN_MANAGER_URL: managerUrl,
    OCDN_NODE_TOKEN: token,
    OCDN_AGENT_HOST: host,
    OCDN_AGENT_PORT: String(port),
    ...env,
  });
}
