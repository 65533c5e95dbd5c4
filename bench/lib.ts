import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { parseManagerEnv } from '../apps/manager/src/env.ts';
import { createLogger } from '../apps/manager/src/log.ts';
import { startManager } from '../apps/manager/src/start-manager.ts';
import { createTestDatabase } from '../test/support/db.ts';
import { findProgram } from '../test/support/programs.ts';

/** The path of a program a benchmark cannot run without; throws, naming what to install, when it is missing. */
export function needProgram(bench: string, name: string, install: string): string {
  const path = findProgram(name);
  if (!path) throw new Error(`${bench} needs ${name} (apt-get install ${install})`);
  return path;
}

/** The fields of /proc/<pid>/stat after the command name (field 3 onwards). */
function procStat(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * One thread's time on a core and waiting on the run queue for one, in seconds (`/proc/<pid>/task/<tid>/schedstat`,
 * kept in nanoseconds; a process's main thread is named by its pid). What a busy machine costs a thread that has work.
 */
export function threadSchedSeconds(pid: number, tid = pid): { run: number; wait: number } {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
    return { run: run! / 1e9, wait: wait! / 1e9 };
  } catch {
    return { run: 0, wait: 0 }; // gone meanwhile, or a kernel without schedstats
  }
}

/** CPU seconds (user + system) a process has used, from /proc. USER_HZ is 100 on Linux. */
export function cpuSeconds(pid: number): number {
  let f: string[];
  try {
    f = procStat(pid);
  } catch {
    return 0; // gone meanwhile
  }
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime
}

/** CPU seconds a process's exited children (waited for) have used, from /proc: the commands it ran. */
export function childCpuSeconds(pid: number): number {
  const f = procStat(pid);
  return (Number(f[13]) + Number(f[14])) / 100; // cutime + cstime
}

/** CPU seconds of every process whose command line contains `needle` (e.g. the PostgreSQL server's backends). */
export function cpuSecondsOf(needle: string): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) total += cpuSeconds(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** Resident set size of a process in MiB. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The ids of a process's living children (the manager's DNS process, say). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (Number(procStat(Number(d))[1]) === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Resident set size of a process and its children, in MiB: what the manager with its DNS process holds. */
export function treeRssMiB(pid: number): number {
  return [pid, ...childrenOf(pid)].reduce((a, p) => a + (rssMiB(p) || 0), 0);
}

/** CPU seconds of a process and its living children. */
export function treeCpuSeconds(pid: number): number {
  return [pid, ...childrenOf(pid)].reduce((a, p) => a + cpuSeconds(p), 0);
}

/** CPU use of a process over a window, in % of one core. */
export async function cpuPercent(pid: number, windowMs: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, windowMs));
  return ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 100;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export function row(cells: (string | number)[], firstWidth = 16): string {
  return cells.map((c, i) => String(typeof c === 'number' ? (Number.isInteger(c) ? c : c.toFixed(1)) : c).padEnd(i === 0 ? firstWidth : 16)).join('');
}

/**
 * Points TEST_DATABASE_URL at the local PostgreSQL when none is given and one answers on 127.0.0.1:5432, so that a
 * benchmark measures both databases where it can. Returns whether PostgreSQL is there.
 */
export function usePostgresIfReachable(): boolean {
  if (!process.env.TEST_DATABASE_URL && spawnSync('pg_isready', ['-q', '-h', '127.0.0.1', '-p', '5432']).status === 0) {
    process.env.TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
  }
  return Boolean(process.env.TEST_DATABASE_URL);
}

/**
 * Runs a benchmark's `measure` on the embedded database, then on PostgreSQL when one answers (usePostgresIfReachable);
 * a failure prints its error and exits 1.
 */
export function onEachDatabase(measure: (backend: 'pglite' | 'postgres') => Promise<void>): void {
  (async () => {
    await measure('pglite');
    if (usePostgresIfReachable()) await measure('postgres');
    else console.log('PostgreSQL not reachable: measured on the embedded database only');
  })().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

/** A manager in this process on a fresh database of `backend` (no sockets), with a known admin token. */
export async function benchManager(backend: 'pglite' | 'postgres', admin: string, extraEnv: Record<string, string> = {}) {
  const tdb = await createTestDatabase(backend);
  const database = await tdb.open();
  const env = parseManagerEnv({ OCDN_ADMIN_TOKEN: admin, OCDN_HTTP_PORT: '0', OCDN_DNS_PORT: '0', OCDN_LOG_LEVEL: 'silent', ...extraEnv });
  const m = await startManager(env, { database, listen: false, log: createLogger('silent') });
  return {
    m,
    database,
    async stop() {
      await m.stop();
      await database.close();
      await tdb.cleanup();
    },
  };
}

/** `NAME=value NAME2=value2` (space-separated) as an environment. */
export const envPairs = (spec: string | undefined): Record<string, string> =>
  Object.fromEntries((spec ?? '').split(' ').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
