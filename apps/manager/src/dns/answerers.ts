// Several answering processes on one port (OCDN_DNS_ANSWERERS): node 20's dgram cannot bind a port twice (no
// SO_REUSEPORT), so the manager binds UDP and TCP once and hands the sockets to every process over its IPC channel. The
// kernel gives each datagram to whichever process reads first. A process receives its own copy of the file
// descriptors, so one ending closes nothing the others answer on. They are one answerer to the manager: records go to
// each, counters are summed, and when one ends the others are ended too and all are started again on the same port.
import type { ChildProcess } from 'node:child_process';
import type { Answerer } from './answerer.ts';
import { listenDns } from './listen.ts';
import type { DnsStats, FromWorker, SocketHandoff, WorkerConfig } from './messages.ts';

/** `wrap`: one process as an answerer of its own (answerer.ts's inProcess). */
export function answeringTogether(children: ChildProcess[], config: WorkerConfig, wrap: (child: ChildProcess) => Answerer): Answerer {
  const members = children.map(wrap);
  const count = members.length;
  const listeners: ((m: FromWorker) => void)[] = [];
  const emit = (m: FromWorker) => {
    for (const fn of listeners) fn(m);
  };
  let failed = false;
  const fail = (message: string) => {
    if (failed) return;
    failed = true;
    emit({ op: 'failed', message });
  };
  let ready = 0;
  const listening: (FromWorker & { op: 'listening' })[] = [];
  /** Each process's counters for a question, until all have answered. */
  const asked = new Map<number, DnsStats[]>();
  members.forEach((member, i) =>
    member.onMessage((m) => {
      if (m.op === 'ready') {
        if (++ready === count) void handOver(children, config).catch((err: Error) => fail(err.message));
      } else if (m.op === 'listening') {
        listening[i] = m;
        // The first process's thread and priority stand for all (they ask for the same).
        if (Object.keys(listening).length === count) emit(listening[0]!);
      } else if (m.op === 'failed') fail(m.message);
      else if (m.op === 'stats') {
        const got = asked.get(m.id) ?? [];
        got.push(m.stats);
        if (got.length < count) return void asked.set(m.id, got);
        asked.delete(m.id);
        emit({ op: 'stats', id: m.id, stats: sumStats(got) });
      }
    }),
  );
  let ended: Promise<void> | undefined;
  return {
    get pids() {
      return members.flatMap((m) => m.pids);
    },
    get alive() {
      return members.every((m) => m.alive);
    },
    send(m) {
      for (const member of members) member.send(m);
    },
    onMessage: (fn) => void listeners.push(fn),
    unref() {
      for (const member of members) member.unref();
    },
    onExit(fn) {
      // The first to end ends the rest; the manager hears of it once all have, when the port is free again.
      let first: string | undefined;
      for (const member of members) {
        member.onExit((how) => {
          if (first !== undefined) return;
          first = how;
          ended ??= Promise.all(members.map((m) => m.stop())).then(() => {});
          void ended.then(() => fn(first!));
        });
      }
    },
    stop() {
      ended ??= Promise.all(members.map((m) => m.stop())).then(() => {});
      return ended;
    },
  };
}

/**
 * Binds the port and sends both sockets to every process, once all listen for them (each said `ready`), so the
 * manager's own copies are open for a moment only; closed then, they leave the processes' copies open. A connection
 * or datagram the manager's copy takes meanwhile is dropped, as one lost on the way would be.
 */
async function handOver(children: ChildProcess[], config: WorkerConfig): Promise<void> {
  const { udp, tcp } = await listenDns(config.host, config.port);
  tcp.on('connection', (sock) => sock.destroy());
  const hand = (child: ChildProcess, m: SocketHandoff, handle: typeof udp | typeof tcp) =>
    new Promise<void>((resolve) => {
      // A process that ended meanwhile fails the send: the group is ended and started again (onExit).
      if (!child.connected) return resolve();
      child.send(m, handle, () => resolve());
    });
  try {
    await Promise.all(children.map(async (child) => {
      await hand(child, { op: 'udp-socket' }, udp);
      await hand(child, { op: 'tcp-server' }, tcp);
    }));
  } finally {
    udp.close();
    tcp.close();
  }
}

/** Every process's counters as one's; each withholds the same addresses. */
function sumStats(all: DnsStats[]): DnsStats {
  const total: DnsStats = { byRcode: {}, truncated: 0, dropped: 0, withheld: 0, buckets: all[0]!.buckets.map(() => 0), sum: 0, count: 0 };
  for (const s of all) {
    for (const [rcode, n] of Object.entries(s.byRcode) as [keyof DnsStats['byRcode'], number][]) total.byRcode[rcode] = (total.byRcode[rcode] ?? 0) + n;
    total.truncated += s.truncated;
    total.dropped += s.dropped;
    total.withheld = Math.max(total.withheld, s.withheld);
    s.buckets.forEach((n, i) => (total.buckets[i]! += n));
    total.sum += s.sum;
    total.count += s.count;
  }
  return total;
}
