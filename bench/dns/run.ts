// bench/dns: the built-in DNS side by side with BIND 9 serving the same records. The manager publishes the records;
// BIND gets a zone file written from GET /api/v1/dns/records. First both are asked the same questions with dig and
// their answers compared (status, flags, EDNS, every section's records); then dnsperf loads each in alternating
// rounds. BIND runs with `minimal-responses yes`: like ocdn it leaves out the optional NS records of the authority
// section in a positive answer (without it, BIND adds them to answers of queries without RD).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseManagerEnv } from '../../apps/manager/src/env.ts';
import { createLogger } from '../../apps/manager/src/log.ts';
import { startManager } from '../../apps/manager/src/start-manager.ts';
import { createTestDatabase } from '../../test/support/db.ts';
import { MANAGER_LAUNCH_ENV, freePort, tempDir } from '../../test/support/procs.ts';
import { jemallocLoaded } from '../../apps/manager/src/malloc-hint.ts';
import { applyGcFlags } from '../../apps/manager/src/gc-flags.ts';
import { ROOT_HINT, startResolverDaemon } from '../../test/support/resolvers.ts';
import { cpuSeconds, envPairs, needProgram, row } from '../lib.ts';

// The manager answers from this process, so this process's allocator is the manager's: the benchmark starts itself
// again with the environment `npm start` gives the manager (MANAGER_LAUNCH_ENV: jemalloc where the system has it;
// glibc at a 32 KiB threshold answered 0.48x BIND where glibc's default answered 0.59x and jemalloc 0.52-0.54x), and
// takes it off again for the programs it starts (BIND, dnsperf, dig), which keep their own.
// BENCH_DNS_ALLOCATOR=as-is: this process as it was started.
if (process.env.BENCH_DNS_ALLOCATOR !== 'as-is' && process.env.BENCH_DNS_RELAUNCHED !== '1') {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], { stdio: 'inherit', env: { ...process.env, ...MANAGER_LAUNCH_ENV, BENCH_DNS_RELAUNCHED: '1' } });
  process.exit(r.status ?? 1);
}
/** glibc's threshold this process started with (the label of the figures). */
const THRESHOLD = process.env.MALLOC_MMAP_THRESHOLD_;
if (process.env.BENCH_DNS_RELAUNCHED === '1') for (const k of Object.keys(MANAGER_LAUNCH_ENV)) delete process.env[k];

const ZONE = 'cdn.ocdn.test';
const NAMES = Number(process.env.BENCH_DNS_NAMES ?? 200);
const PER_NAME = 2;
const ROUNDS = Number(process.env.BENCH_DNS_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_DNS_SECONDS ?? 8);

/** What dig shows of an answer, in a form that does not depend on record order or the query id. */
function digView(port: number, args: string[]): string {
  const out = spawnSync('dig', ['@127.0.0.1', '-p', String(port), '+norec', '+time=2', '+tries=1', '+nocookie', ...args], { encoding: 'utf8' }).stdout;
  const status = /status: (\w+)/.exec(out)?.[1];
  const flags = /flags: ([^;]*);/.exec(out)?.[1]?.trim();
  const edns = /EDNS: (version: \d+, flags:[^;]*; udp: \d+)/.exec(out)?.[1] ?? 'no EDNS';
  const section = (name: string) =>
    (new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(\\n\\n|$)`).exec(out)?.[1] ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith(';'))
      .map((l) => l.split(/\s+/).join(' '))
      .sort();
  return JSON.stringify({ status, flags, edns, answer: section('ANSWER'), authority: section('AUTHORITY'), additional: section('ADDITIONAL') });
}

function dnsperf(port: number, file: string): { qps: number; avgMs: number; lost: number } {
  const r = spawnSync('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(SECONDS), '-c', '4', '-q', '200'], { encoding: 'utf8' });
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const avg = Number(/Average Latency \(s\):\s+([\d.]+)/.exec(r.stdout)?.[1]) * 1000;
  const lost = Number(/Queries lost:\s+(\d+)/.exec(r.stdout)?.[1]);
  if (!Number.isFinite(qps)) throw new Error(`dnsperf failed:\n${r.stdout}\n${r.stderr}`);
  return { qps, avgMs: avg, lost };
}

async function main(): Promise<void> {
  // The V8 flags the manager's main.ts sets on itself (BENCH_DNS_GC_FLAGS=off: node's defaults).
  const v8Flags = process.env.BENCH_DNS_GC_FLAGS === 'off' ? [] : applyGcFlags();
  for (const cmd of ['named', 'dig', 'dnsperf']) needProgram('bench/dns', cmd, 'dnsutils dnsperf bind9');
  const dir = tempDir('ocdn-bench-dns');
  const tdb = await createTestDatabase('pglite');
  const database = await tdb.open();
  const ourPort = await freePort();
  const env = parseManagerEnv({ OCDN_ADMIN_TOKEN: 'bench-admin-token-0123456789', OCDN_HTTP_PORT: '0', OCDN_DNS_PORT: String(ourPort), OCDN_DNS_MAX_ANSWERS: '0', OCDN_LOG_LEVEL: 'silent', ...envPairs(process.env.BENCH_MANAGER_ENV) });
  const m = await startManager(env, { database, listen: false, log: createLogger('silent') });
  let bind: Awaited<ReturnType<typeof startResolverDaemon>> | undefined;
  try {
    for (let i = 0; i < NAMES; i++) for (let j = 0; j < PER_NAME; j++) await m.ctx.dns.provider.upsert(`site-${i}.${ZONE}`, `127.0.${2 + j}.${1 + (i % 250)}`);
    // Every page of the list (it answers 100 at a time unless asked for more).
    const records: { name: string; value: string; ttl: number }[] = [];
    for (let cursor: string | null = null; ; ) {
      const res = await m.app.request(`/api/v1/dns/records?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: { authorization: 'Bearer bench-admin-token-0123456789' } });
      const page = (await res.json()) as { items: { name: string; value: string; ttl: number }[]; nextCursor: string | null };
      records.push(...page.items);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    const serial = spawnSync('dig', ['@127.0.0.1', '-p', String(ourPort), '+short', ZONE, 'SOA'], { encoding: 'utf8' }).stdout.split(' ')[2];
    const zoneFile = [`$TTL 30`, `@ IN SOA ns.${ZONE}. hostmaster.${ZONE}. ${serial} 300 60 86400 30`, `@ IN NS ns.${ZONE}.`, `ns IN A 127.0.0.1`, ...records.map((r) => `${r.name}. ${r.ttl} IN A ${r.value}`)].join('\n');
    writeFileSync(join(dir.path, 'db.zone'), `${zoneFile}\n`);
    writeFileSync(join(dir.path, 'root.hint'), ROOT_HINT);
    const bindPort = await freePort();
    writeFileSync(
      join(dir.path, 'named.conf'),
      `options {\n  directory "${dir.path}";\n  listen-on port ${bindPort} { 127.0.0.1; };\n  listen-on-v6 { none; };\n  pid-file "${dir.path}/named.pid";\n  recursion no;\n  dnssec-validation no;\n  minimal-responses yes;\n};\ncontrols { };\nzone "." { type hint; file "${dir.path}/root.hint"; };\nzone "${ZONE}" { type primary; file "${dir.path}/db.zone"; };\n`,
    );
    bind = await startResolverDaemon('named', join(dir.path, 'named.conf'), /^\S+ \S+ running$/m);

    // Same questions, same answers.
    const questions: string[][] = [
      [`site-1.${ZONE}`, 'A'],
      [`SiTe-2.CDN.ocdn.test`, 'A'],
      [`site-3.${ZONE}`, 'A', '+noedns'],
      [`site-3.${ZONE}`, 'A', '+tcp'],
      [`site-4.${ZONE}`, 'A', '+dnssec'],
      [`site-5.${ZONE}`, 'A', '+edns=1', '+noednsnegotiation'],
      [`site-6.${ZONE}`, 'AAAA'],
      [`site-6.${ZONE}`, 'MX'],
      [`nothing.${ZONE}`, 'A'],
      [ZONE, 'SOA'],
      [ZONE, 'NS'],
      [ZONE, 'A'],
      [`ns.${ZONE}`, 'A'],
      ['example.com', 'A'],
    ];
    let mismatches = 0;
    for (const q of questions) {
      const ours = digView(ourPort, q);
      const theirs = digView(bindPort, q);
      if (ours !== theirs) {
        mismatches++;
        console.log(`answers differ for dig ${q.join(' ')}:\n  ocdn: ${ours}\n  BIND: ${theirs}`);
      }
    }
    console.log(`bench/dns: ${records.length} A records on ${NAMES} names; ${questions.length} questions asked of both with dig: ${mismatches === 0 ? 'same answers' : `${mismatches} differ`}; the manager on ${jemallocLoaded() ? 'jemalloc' : `glibc${THRESHOLD ? ` (MALLOC_MMAP_THRESHOLD_=${THRESHOLD})` : ''}`}, V8 flags: ${v8Flags.join(' ') || "node's defaults"}; answering: ${env.OCDN_DNS_ISOLATION === 'thread' ? 'a thread' : `${env.OCDN_DNS_ANSWERERS} process(es)`}`);

    const file = join(dir.path, 'queries.txt');
    writeFileSync(file, Array.from({ length: NAMES }, (_, i) => `site-${i}.${ZONE} A`).join('\n') + '\n');
    const results = { ocdn: [] as number[], bind: [] as number[] };
    console.log(row(['round', 'server', 'queries/s', 'avg latency ms', 'lost', 'server CPU s'], 10));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const server of round % 2 ? (['ocdn', 'bind'] as const) : (['bind', 'ocdn'] as const)) {
        // ocdn: this process (the manager, with the DNS thread) and its DNS processes if it has them; BIND: named.
        const pids = server === 'ocdn' ? [process.pid, ...m.ctx.dns.server!.pids] : [bind.child.pid!];
        const cpu = () => pids.reduce((a, p) => a + cpuSeconds(p), 0);
        const c0 = cpu();
        const r = dnsperf(server === 'ocdn' ? ourPort : bindPort, file);
        results[server].push(r.qps);
        console.log(row([round, server, Math.round(r.qps), r.avgMs.toFixed(3), r.lost, (cpu() - c0).toFixed(1)], 10));
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(results.ocdn) / median(results.bind);
    console.log(`median queries/s: ocdn ${Math.round(median(results.ocdn))}, BIND ${Math.round(median(results.bind))}: ${ratio.toFixed(2)}x (floor 0.5x: ${ratio >= 0.5 ? 'met' : 'NOT met'})`);
    const stats = await m.ctx.dns.server!.stats();
    console.log(`built-in DNS counters: ${JSON.stringify(stats?.byRcode)}, answer time mean ${((stats!.sum / stats!.count) * 1e6).toFixed(1)} µs`);
    if (mismatches > 0) process.exitCode = 1;
  } finally {
    if (bind && bind.child.exitCode === null) {
      const exited = new Promise((r) => bind!.child.once('exit', r));
      bind.child.kill('SIGTERM');
      await exited;
    }
    await m.stop();
    await database.close();
    await tdb.cleanup();
    dir.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
