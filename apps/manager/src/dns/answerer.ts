// Where the built-in DNS answers (dns/worker.ts): a process of its own or a thread of the manager's. Both take the
// same messages (messages.ts); this file hides which one runs.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { startWorkerThread } from '../worker-thread.ts';
import { FeedWriter, feedBuffer } from './feed.ts';
import { WORKER_CONFIG_ENV, type FromWorker, type ToWorker, type WorkerConfig } from './messages.ts';
import { answeringTogether } from './answerers.ts';

/**
 * `process`: the answers survive anything the manager's heap does, at the price of a second `node` in memory
 * (~42 MiB resident, most of it the binary's pages counted again). `thread`: ~10 MiB, in the manager's process.
 */
export type DnsIsolation = 'process' | 'thread';

export interface Answerer {
  /** Every answering process's id (none for a thread: it runs in the manager's process). */
  readonly pids: number[];
  /** Whether messages still reach it. */
  readonly alive: boolean;
  send(m: ToWorker): void;
  onMessage(fn: (m: FromWorker) => void): void;
  /** Called once when it ends, with how (an exit code, a signal or an error). */
  onExit(fn: (how: string) => void): void;
  /** Lets the manager end without waiting for it (once it listens: before, it holds the manager up). */
  unref(): void;
  /** Ends it and resolves once it has ended. */
  stop(): Promise<void>;
}

/**
 * Starts the answerer: from the sources (tsx) worker.ts, from the bundle dist/dns-worker.js beside dist/main.js. It
 * gets no environment but its configuration: no secrets.
 */
export function startAnswerer(isolation: DnsIsolation, config: WorkerConfig, count = 1, withholdSockets: readonly string[] = []): Answerer {
  const here = import.meta.url;
  const fromSources = here.endsWith('.ts');
  if (isolation === 'thread') {
    const feed = feedBuffer();
    return inThread(startWorkerThread(here, 'worker', 'dns-worker', { ...config, feed }), new FeedWriter(feed));
  }
  const file = fileURLToPath(new URL(fromSources ? './worker.ts' : './dns-worker.js', here));
  const own = (i: number): WorkerConfig => ({ ...config, ...(withholdSockets[i] ? { withholdSocket: withholdSockets[i] } : {}) });
  if (count === 1) return inProcess(forkAnswerer(file, fromSources, own(0)));
  // Several: each is told to wait for the manager's sockets (answerers.ts binds and hands them over).
  return answeringTogether(Array.from({ length: count }, (_, i) => forkAnswerer(file, fromSources, { ...own(i), shared: true })), config, inProcess);
}

function forkAnswerer(file: string, fromSources: boolean, config: WorkerConfig): ChildProcess {
  return fork(file, [], {
    execArgv: fromSources ? ['--import', import.meta.resolve('tsx')] : [],
    env: { PATH: process.env.PATH ?? '', [WORKER_CONFIG_ENV]: JSON.stringify(config) },
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function inProcess(child: ChildProcess): Answerer {
  let ended = false;
  return {
    pids: child.pid === undefined ? [] : [child.pid],
    get alive() {
      return !ended && child.connected;
    },
    send: (m) => void (child.connected && child.send(m)),
    onMessage: (fn) => void child.on('message', fn),
    unref() {
      child.unref();
      (child.channel as { unref?(): void } | undefined)?.unref?.();
    },
    onExit(fn) {
      const once = (how: string) => {
        if (ended) return;
        ended = true;
        fn(how);
      };
      child.once('exit', (code, signal) => once(`exit ${signal ?? code}`));
      // Not once: a message sent as the process dies fails with a second 'error', which must not go unheard.
      child.on('error', (err) => {
        once(`error: ${err.message}`);
        child.kill('SIGKILL');
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await gone;
      clearTimeout(killer);
    },
  };
}

/** A thread: its messages go through the shared-memory feed (feed.ts), not its MessagePort. */
function inThread(worker: Worker, feed: FeedWriter): Answerer {
  let ended = false;
  return {
    pids: [],
    get alive() {
      return !ended;
    },
    send: (m) => void (!ended && feed.write(m)),
    onMessage: (fn) => void worker.on('message', fn),
    unref: () => worker.unref(),
    onExit(fn) {
      const once = (how: string) => {
        if (ended) return;
        ended = true;
        fn(how);
      };
      worker.once('exit', (code) => once(`exit ${code}`));
      worker.on('error', (err) => once(`error: ${err.message}`));
    },
    async stop() {
      ended = true;
      feed.stop();
      await worker.terminate();
    },
  };
}
