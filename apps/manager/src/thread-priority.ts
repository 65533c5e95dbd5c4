// Scheduling priority for the manager's latency-critical threads: the built-in DNS's answerer (dns/worker.ts) and
// the health watch (nodes/watch-worker.ts). Both do little work, and both must not wait behind pipeline work.
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';

/** What became of one setting: made (its value), left alone (null), or refused (the reason). */
export type SettingOutcome = { set: number } | { refused: string } | null;

/** What became of the thread's priority: its nice value and its real-time priority. */
export interface PriorityOutcome {
  nice: SettingOutcome;
  rt: SettingOutcome;
}

/** The calling thread's id: a process's main thread is named by its pid, a thread by `/proc/thread-self` (`<pid>/task/<tid>`). */
export function currentThreadId(): number {
  return isMainThread ? process.pid : Number(readlinkSync('/proc/thread-self').split('/').pop());
}

/**
 * Asks the scheduler to run the calling thread (`tid`: this thread's id, currentThreadId()) ahead of the manager's
 * other work: on a busy machine it then waits for no pipeline work. A nice value below 0 gives it most of a core, but
 * a woken thread still waits for the running one's time slice (a few ms on two busy cores); the real-time
 * round-robin class (SCHED_RR, as chronyd runs) takes the core at once, and the kernel still keeps 5 % of every
 * second for other classes. Both need CAP_SYS_NICE; without it the thread stays as it was and the outcome says why.
 * Node has no call for the scheduling class: util-linux's chrt sets it.
 */
export function raiseThreadPriority(tid: number, nice: number | null, rt: number | null): PriorityOutcome {
  const outcome: PriorityOutcome = { nice: null, rt: null };
  if (nice !== null) {
    try {
      setPriority(nice); // this thread (Linux keeps a nice value per thread; helper threads keep theirs)
      outcome.nice = { set: nice };
    } catch (err) {
      outcome.nice = { refused: (err as Error).message };
    }
  }
  if (rt !== null) {
    try {
      // This thread alone (the helper threads do not need it).
      execFileSync('chrt', ['--rr', '--pid', String(rt), String(tid)], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5_000 });
      outcome.rt = { set: rt };
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      outcome.rt = { refused: e.stderr?.toString().trim() || e.message };
    }
  }
  return outcome;
}
