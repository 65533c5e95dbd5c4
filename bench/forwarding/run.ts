// bench/forwarding: the forward-zone scheduler and conflict check over 100,000 zones, and applying 10,000 zones to
// a real BIND next to BIND's own `rndc reconfig` of the same file.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { DnsDriver } from '../../apps/agent/src/dns/driver.ts';
import { renderBindView } from '../../apps/agent/src/dns/render.ts';
import { createLogger } from '../../apps/agent/src/log.ts';
import { ZoneIndex } from '../../apps/manager/src/forwarding/conflict.ts';
import { activeAt, evaluate, forCheck, resolveSchedulers, type ForwardModel, type SchedulerRow, type ZoneRow } from '../../apps/manager/src/forwarding/model.ts';
import { compileScheduler } from '../../apps/manager/src/forwarding/time.ts';
import { findProgram } from '../../test/support/programs.ts';
import { freePort, tempDir } from '../../test/support/procs.ts';
import { startBind } from '../../test/support/resolvers.ts';
import { percentile, row } from '../lib.ts';

const ZONES = Number(process.env.BENCH_FWD_ZONES ?? 100_000);
const CHECKS = Number(process.env.BENCH_FWD_CHECKS ?? 1000);
const APPLY = Number(process.env.BENCH_FWD_APPLY ?? 10_000);
const TZS = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Shanghai'];
const rnd = (n: number) => Math.floor(Math.random() * n);

function periodsOf(type: string): { beginTime: string; endTime: string }[] {
  const h = rnd(24);
  if (type === 'daily') return [{ beginTime: `${h}:00`, endTime: `${(h + 1 + rnd(10)) % 24}:30` }];
  if (type === 'weekly') return [{ beginTime: `${rnd(7)} ${h}:00`, endTime: `${rnd(7)} ${h}:30` }].filter((p) => p.beginTime !== p.endTime.replace(':30', ':00') || true);
  if (type === 'monthly') {
    const mo = 1 + rnd(12);
    return [{ beginTime: `${mo} ${1 + rnd(28)} 0:00`, endTime: `${1 + ((mo + rnd(3)) % 12)} ${1 + rnd(28)} 12:00` }];
  }
  const y = 2026 + rnd(3);
  return [{ beginTime: `${y} ${1 + rnd(12)} ${1 + rnd(28)} 1:00`, endTime: `${y + 1} ${1 + rnd(12)} ${1 + rnd(28)} 1:00` }];
}

/** A scheduler row of the type that passes the seed's rules (drawn again until it does). */
function scheduler(i: number, type: string): SchedulerRow {
  for (;;) {
    const row = { id: `tms_${i}`, name: `s${i}`, timeType: type, timePeriods: periodsOf(type), timezone: TZS[i % TZS.length]!, comment: '', version: 1, createdAt: new Date(), updatedAt: new Date() };
    try {
      compileScheduler(type as 'daily', row.timePeriods, row.timezone);
      return row;
    } catch {}
  }
}

function model(): ForwardModel {
  const types = ['daily', 'weekly', 'monthly', 'date'];
  const schedulers = new Map<string, { row: SchedulerRow; compiled: ReturnType<typeof compileScheduler> }>();
  const zones: ZoneRow[] = [];
  for (let i = 0; i < ZONES; i++) {
    const row = scheduler(i, types[i % 4]!);
    schedulers.set(row.id, { row, compiled: compileScheduler(row.timeType as 'daily', row.timePeriods, row.timezone!) });
    zones.push({
      id: `fzn_${i}`,
      view: i % 10 === 0 ? 'inner' : 'default',
      forwardItemType: 'domain',
      domain: `z${i}.g${i % 997}.example`,
      domainGroupIds: [],
      forwarderGroupIds: [`fwg_${i % 50}`],
      timeScheduler: row.id,
      forwardStyle: i % 2 ? 'first' : 'only',
      comment: '',
      active: false,
      createdAt: new Date(),
      updatedAt: new Date(),
    });
  }
  const groups = new Map(Array.from({ length: 50 }, (_, i) => [`fwg_${i}`, [`10.9.${i}.1`, `10.9.${i}.2:5353`]]));
  const views = ['default', 'inner'].map((name) => ({ name, matchClients: ['any'], comment: '', createdAt: new Date(), updatedAt: new Date() }));
  // Zones as loadModel reads them: by view and name, schedulers resolved.
  zones.sort((a, b) => (a.view < b.view ? -1 : a.view > b.view ? 1 : a.domain! < b.domain! ? -1 : 1));
  return resolveSchedulers({ views, forwarderGroups: groups, domainGroups: new Map(), schedulers, zones });
}

function scheduling(): void {
  const m = model();
  const times: number[] = [];
  evaluate(m, Date.now()); // warm up
  let active = 0;
  const flagTimes: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const r = evaluate(m, Date.now() + i * 60_000);
    times.push(performance.now() - t0);
    active = r.active.filter(Boolean).length;
    const t1 = performance.now();
    activeAt(m, Date.now() + i * 60_000);
    flagTimes.push(performance.now() - t1);
  }
  const t1 = performance.now();
  const byView = new Map<string, ZoneIndex>();
  for (const z of m.zones) {
    let idx = byView.get(z.view);
    if (!idx) byView.set(z.view, (idx = new ZoneIndex()));
    idx.add(forCheck(z, m));
  }
  const buildMs = performance.now() - t1;
  const checks: number[] = [];
  let conflicts = 0;
  for (let i = 0; i < CHECKS; i++) {
    // A new zone on a name near the existing ones, with its own new scheduler: nothing cached for it.
    const row = scheduler(ZONES + i, ['daily', 'weekly', 'monthly', 'date'][i % 4]!);
    const cand = { id: `new${i}`, style: (i % 2 ? 'only' : 'first') as 'first' | 'only', domains: [i % 3 === 0 ? `g${i % 997}.example` : `x.z${rnd(ZONES)}.g${i % 997}.example`], scheduler: compileScheduler(row.timeType as 'daily', row.timePeriods, row.timezone!), schedulerKey: row.id };
    const t0 = performance.now();
    if (byView.get('default')!.conflictOf(cand, Date.now())) conflicts++;
    checks.push(performance.now() - t0);
  }
  console.log(`\n## bench/forwarding — ${ZONES.toLocaleString('en')} zones, each with its own scheduler (daily, weekly, yearly, date; 4 time zones)`);
  console.log(row(['what', 'p50 ms', 'p99 ms', 'max ms', 'note']));
  console.log(row(['tick: evaluate all', percentile(times, 50), percentile(times, 99), Math.max(...times), `${active} in effect; states and the desired state with its hash`]));
  console.log(row(['tick: states only', percentile(flagTimes, 50), percentile(flagTimes, 99), Math.max(...flagTimes), 'what a tick computes to see that nothing flipped']));
  console.log(row(['conflict check', percentile(checks, 50), percentile(checks, 99), Math.max(...checks), `${CHECKS} new zones, ${conflicts} conflicts`]));
  console.log(row(['index build', buildMs, '', '', 'once per view load']));
}

async function applying(): Promise<void> {
  if (!findProgram('named') || !findProgram('rndc')) throw new Error('bench/forwarding needs BIND (named, rndc)');
  const dir = tempDir('bench-fwd');
  const bind = await startBind(join(dir.path, 'bind'), '127.0.0.1', await freePort(), await freePort(), [{ name: 'default', matchClients: ['any'] }]);
  try {
    const env = bind.agentEnv;
    const d = new DnsDriver({
      driver: 'bind',
      bindIncludeDir: env.OCDN_BIND_INCLUDE_DIR!,
      bindCheckconfCmd: env.OCDN_BIND_CHECKCONF_CMD!.split(' '),
      rndcCmd: env.OCDN_RNDC_CMD!.split(' '),
      unboundIncludeFile: '',
      unboundCheckconfCmd: [],
      unboundControlCmd: [],
      log: createLogger('silent'),
    });
    const zones = Array.from({ length: APPLY }, (_, i) => ({ name: `z${i}.bench.example`, style: 'only' as const, forwarders: [{ ip: '127.0.0.1', port: 9 }] }));
    const rndc = env.OCDN_RNDC_CMD!.split(' ');
    const check = env.OCDN_BIND_CHECKCONF_CMD!.split(' ');
    const time = (cmd: string[]) => {
      const t = performance.now();
      const p = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: 30_000 });
      if (p.status !== 0) throw new Error(`${cmd.join(' ')}: ${p.stderr || 'timed out'}`);
      return performance.now() - t;
    };
    // BIND alone first, on the same file (written as the agent would), before anything was flushed.
    const file = join(env.OCDN_BIND_INCLUDE_DIR!, 'default.forward.conf');
    writeFileSync(file, renderBindView({ name: 'default', matchClients: ['any'], zones }));
    const checkconf = time(check);
    const reconfig = time([...rndc, 'reconfig']);
    writeFileSync(file, '');
    time([...rndc, 'reconfig']);
    const t0 = performance.now();
    const r = await d.apply({ hash: 'one', views: [{ name: 'default', matchClients: ['any'], zones }] });
    const applyMs = performance.now() - t0;
    // One zone's forwarders change: the same file again, and one flush.
    zones[0] = { ...zones[0]!, forwarders: [{ ip: '127.0.0.1', port: 10 }] };
    const t1 = performance.now();
    const changeMs = await d.apply({ hash: 'two', views: [{ name: 'default', matchClients: ['any'], zones }] }).then(
      () => performance.now() - t1,
      (err: Error) => `failed: ${err.message.slice(0, 80)}`,
    );
    console.log(`\n## bench/forwarding — ${APPLY.toLocaleString('en')} zones applied to a real BIND (one view)`);
    console.log(row(['what', 'ms', 'note']));
    console.log(row(['ocdn apply (first)', applyMs, `render, write, named-checkconf, rndc reconfig; ${r.flushed.length} flushes`]));
    console.log(row(['ocdn apply (1 zone)', changeMs, 'same, plus one rndc flushtree']));
    console.log(row(['named-checkconf', checkconf, 'BIND alone, same file']));
    console.log(row(['rndc reconfig', reconfig, 'BIND alone, same file']));
  } finally {
    await bind.stop();
    dir.remove();
  }
}

const only = process.env.BENCH_FWD_ONLY;
if (only !== 'apply') scheduling();
if (only !== 'tick') await applying();
