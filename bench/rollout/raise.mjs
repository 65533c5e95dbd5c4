// Raises the calling thread for a benchmark's measuring thread: the real-time round-robin class (as the manager's DNS
// and watch threads run by default), or `nice` where that is refused. On this one machine the measuring thread shares
// the cores with fifty agents, and the time it waits for a core of its own is not the server's. Returns how it was
// raised ('SCHED_RR 1', 'nice -15'), or null (not permitted: the figures then include the thread's own waits).
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

export function raiseThisThread(nice) {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  try {
    execFileSync('chrt', ['--rr', '--pid', '1', String(tid)], { stdio: 'ignore' });
    return 'SCHED_RR 1';
  } catch {
    try {
      setPriority(tid, nice);
      return `nice ${nice}`;
    } catch {
      return null;
    }
  }
}
