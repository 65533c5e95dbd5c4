// Scheduling priority for the manager's latency-critical threads: the built-in DNS's answerer (dns/worker.ts) and
// the health watch (nodes/watch-worker.ts). Both do little work, and both must not wait behind pipeline work.
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
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

/**
 * The nice value of thread `tid` (Linux keeps one per thread: `setpriority(PRIO_PROCESS, tid)` names a single
 * thread of this process), or null when it cannot be read.
 */
export function threadNice(tid: number): number | null {
  try {
    return getPriority(tid);
  } catch {
    return null;
  }
}

/**
 * Raises thread `tid` (another thread of this process) to nice value `nice` for a moment of urgent work; its own
 * code puts it back (Raised.lowerAfter). When it runs at `nice` now, the nice value it had before: raised here (its
 * value until now), or already at `nice` (raised for other work a moment ago, or set so); null when it runs at a
 * higher priority of its own, or without CAP_SYS_NICE.
 */
export function raiseThreadNice(tid: number, nice: number): number | null {
  const now = threadNice(tid);
  if (now === null || now < nice) return null;
  if (now === nice) return now;
  try {
    setPriority(tid, nice);
    return now;
  } catch {
    return null;
  }
}

/**
 * The raised thread's side: puts back the nice value it had before the first of overlapping raises once the urgent
 * work each was for has settled, or after `capMs` at most — never left raised by work that does not end. The value
 * before is the raise's (raiseThreadNice), not the one the thread had at start: an operator's `renice` of the manager
 * after its start is not undone by the next health decision.
 */
export class Raised {
  private pending = 0;
  /** The nice value to put back once nothing raised is pending (set by the first raise of a series). */
  private before = 0;

  constructor(
    private readonly tid: number,
    private readonly capMs = 2_000,
  ) {}

  /** `before`: what raiseThreadNice answered for this raise (the thread's nice value before it). */
  lowerAfter(work: Promise<unknown>, before: number): void {
    if (this.pending === 0) {
      // A raise that found the thread raised already (`before` is the raised value) whose message comes after that
      // earlier raise was put back: the thread no longer runs raised, and "putting back" `before` would raise it.
      const now = threadNice(this.tid);
      if (now !== null && now > before) return;
      this.before = before;
    }
    this.pending++;
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise((resolve) => (timer = setTimeout(resolve, this.capMs).unref()));
    void Promise.race([work, cap])
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        if (--this.pending > 0) return;
        try {
          setPriority(this.tid, this.before); // lowering needs no privilege
        } catch {
          // the thread is gone
        }
      });
  }
}
