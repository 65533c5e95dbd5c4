// The machine's own stalls, next to the figures they can spoil: a thread pinned to one CPU in the real-time class at
// the highest priority (99), which nothing in this machine's scheduler makes wait, sleeps 1 ms at a time and keeps
// every oversleep past 10 ms. What it sees is time the CPU itself did not run (on a virtual machine, the host not
// running that virtual CPU), which every thread on that CPU lost too. Answers `take` with the oversleeps since the
// last one, in ms.
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
let raised = true;
try {
  execFileSync('taskset', ['-pc', String(workerData.cpu), String(tid)], { stdio: 'ignore' });
  execFileSync('chrt', ['--rr', '--pid', '99', String(tid)], { stdio: 'ignore' });
} catch {
  raised = false; // not permitted: its own waits count then
}
let stalls = [];
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const over = now - last - 1;
  if (over > 10) stalls.push(over);
  last = now;
}, 1);
parentPort.on('message', () => {
  parentPort.postMessage({ stalls, raised });
  stalls = [];
});
