import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findProgram } from './programs.ts';
import { freePort } from './procs.ts';
import { waitFor } from './wait.ts';

/**
 * A private PostgreSQL cluster (Debian's initdb and pg_ctl, run as the `postgres` user) that a test may stop and
 * start — never the machine's shared server. Trust auth on 127.0.0.1 and a socket in its own directory.
 */
export interface PgCluster {
  url: string;
  stop(): void;
  start(): Promise<void>;
  destroy(): void;
}

/** The directory of Debian's PostgreSQL server programs (initdb and pg_ctl are not on PATH there). */
export function pgBinDir(): string | null {
  const found = findProgram('pg_ctl');
  if (found) return dirname(realpathSync(found)); // /usr/local/bin/pg_ctl may be a link into the server's bin
  const r = spawnSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1'], { encoding: 'utf8' });
  const dir = r.stdout.trim();
  return dir && spawnSync(join(dir, 'pg_ctl'), ['--version']).status === 0 ? dir : null;
}

export async function startPgCluster(dir: string, bin: string): Promise<PgCluster> {
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('there is no postgres user');
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(sock, { recursive: true });
  chmodSync(dirname(dir), 0o755); // mkdtemp's 0700 would keep the postgres user out
  chmodSync(dir, 0o755);
  chownSync(dir, uid, gid);
  chownSync(sock, uid, gid);
  const asPostgres = (args: string[]) => {
    const r = spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8', cwd: '/' });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stdout}${r.stderr}`);
  };
  asPostgres([join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await freePort();
  const opts = `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  const ready = () => waitFor('private postgres to accept connections', () => spawnSync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]).status === 0, { timeoutMs: 30_000, intervalMs: 100 });
  const start = async () => {
    asPostgres([join(bin, 'pg_ctl'), '-D', data, '-o', opts, '-l', join(dir, 'postgres.log'), '-w', 'start']);
    await ready();
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => asPostgres([join(bin, 'pg_ctl'), '-D', data, '-m', 'fast', '-w', 'stop']),
    start,
    destroy() {
      spawnSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'], { cwd: '/' });
    },
  };
}
