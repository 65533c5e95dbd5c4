// The benchmark's measuring clients, each a process of its own at a raised priority: on this one machine they share
// the cores with the fleet, and the time a client waits for a core of its own is not the server's answer time.
//
// Neither is a thread of the benchmark's own any more. A Node.js thread in the real-time class, in a busy process,
// spun for ~1 s at a time: V8's memory reducer starts an incremental collection 8 s after an isolate goes quiet, its
// marking waits on the process's helper threads (normal priority, behind fifty agents), and the thread's event loop
// ran marking steps back to back meanwhile. Two such threads (the DNS and the API client) did it at once, 8 s into a
// rollout, and held both cores in 100 ms real-time slices: the manager's DNS thread, at the same priority, waited
// out slices of theirs, and the resolver read its own answers up to 98 ms late (perf record; bench/rollout's DNS
// p99 8–41 ms on 2026-12-07, with no CPU stall of that size).
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needProgram } from '../lib.ts';

interface Probe<T> {
  stop(): Promise<T>;
}

/** A query without an answer within this long counts as this long (dnsperf's timeout). */
const LOST_MS = 1000;

/** How a program can be started raised here: in the real-time round-robin class, or at nice -15, or not at all. */
function raisedPrefix(): { argv: string[]; raised: string | null } {
  if (spawnSync('chrt', ['--rr', '1', 'true']).status === 0) return { argv: ['chrt', '--rr', '1'], raised: 'SCHED_RR 1' };
  if (spawnSync('nice', ['-n', '-15', 'true'], { encoding: 'utf8' }).stderr === '') return { argv: ['nice', '-n', '-15'], raised: 'nice -15' };
  return { argv: [], raised: null };
}

/** A child that ends with the benchmark, however the benchmark ends. */
function tied(child: ChildProcess): ChildProcess {
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  return child;
}

/**
 * A resolver asking the built-in DNS for its zone's SOA 50 times a second: dnsperf (Debian's, in C: no collector
 * of its own to pause it), whose verbose mode reports each answer's round trip. stop() gives them in ms, a lost
 * query counting as a second.
 */
export function dnsProbe(port: number): Probe<{ times: number[]; raised: string | null }> {
  const dnsperf = needProgram('bench/rollout', 'dnsperf', 'dnsperf');
  const dir = mkdtempSync(join(tmpdir(), 'ocdn-dns-probe-'));
  const file = join(dir, 'queries');
  writeFileSync(file, 'cdn.ocdn.test SOA\n');
  const { argv, raised } = raisedPrefix();
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-c', '1', '-Q', '50', '-t', String(LOST_MS / 1000), '-l', '86400', '-v'];
  const child = tied(spawn(argv[0] ?? dnsperf, [...argv.slice(1), ...(argv.length ? [dnsperf] : []), ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    async stop() {
      child.kill('SIGINT'); // it prints what it has and ends
      await closed;
      rmSync(dir, { recursive: true, force: true });
      // `> NOERROR cdn.ocdn.test SOA 0.000290` (seconds), or `> T cdn.ocdn.test SOA` for a query it gave up on.
      const times = [...out.matchAll(/^> (\S+) \S+ \S+(?: ([0-9.]+))?$/gm)].map((m) => (m[1] === 'T' ? LOST_MS : Number(m[2]) * 1000));
      if (times.length === 0) throw new Error(`dnsperf reported no query: ${err.trim() || out.trim()}`);
      return { times, raised };
    },
  };
}

/**
 * An operator's client asking `GET path` of the manager's API every 100 ms, one at a time (api-probe.mjs, a `node`
 * with a collector that needs no helper thread); stop() gives the round trips in ms and the requests that failed.
 */
export function apiProbe(url: string, path: string, token: string): Probe<{ times: number[]; failures: string[]; raised: string | null }> {
  const child = tied(fork(new URL('./api-probe.mjs', import.meta.url), [], { execArgv: ['--single-threaded-gc'], env: { ...process.env, NODE_OPTIONS: '' } }));
  child.send({ url, path, token, everyMs: 100, nice: -15 });
  return {
    stop: () =>
      new Promise((resolve) => {
        child.once('message', resolve);
        child.send('stop');
      }),
  };
}
