import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from './wait.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MANAGER_JS = join(ROOT, 'apps/manager/dist/main.js');
export const AGENT_CJS = join(ROOT, 'apps/agent/dist/ocdn-agent.cjs');

/** Ports this process handed out: two calls in a row never return the same one (the kernel may offer it again). */
const handedOut = new Set<number>();

/** A free TCP port on `host`, never one this process handed out before. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(0, host, () => {
        const { port } = s.address() as { port: number };
        s.close(() => res(port));
      });
    });
    if (handedOut.has(port)) continue;
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

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
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

/** Starts the built manager (apps/manager/dist/main.js) and waits for /healthz. */
export async function startManagerProcess(env: Record<string, string>, opts: { nodeArgs?: string[] } = {}): Promise<ManagerHandle> {
  const port = env.OCDN_HTTP_PORT ? Number(env.OCDN_HTTP_PORT) : await freePort();
  const proc = new Proc('manager', [...(opts.nodeArgs ?? []), MANAGER_JS], { OCDN_HTTP_PORT: String(port), OCDN_DNS_PORT: '0', OCDN_ADMIN_TOKEN: ADMIN_TOKEN, ...env });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'manager /healthz',
    async () => {
      if (!proc.running) throw new Error(`manager exited:\n${proc.output.slice(-3000)}`);
      const r = await fetch(`${url}/healthz`).catch(() => null);
      return r?.ok;
    },
    { timeoutMs: 30_000 },
  );
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

/** Starts the agent bundle (apps/agent/dist/ocdn-agent.cjs) on its own loopback address. */
export function startAgentProcess(
  managerUrl: string,
  token: string,
  host: string,
  port: number,
  env: Record<string, string> = {},
  opts: { nodeArgs?: string[] } = {},
): Proc {
  return new Proc(`agent@${host}`, [...(opts.nodeArgs ?? []), AGENT_CJS], {
    OCDN_MANAGER_URL: managerUrl,
    OCDN_NODE_TOKEN: token,
    OCDN_AGENT_HOST: host,
    OCDN_AGENT_PORT: String(port),
    ...env,
  });
}
