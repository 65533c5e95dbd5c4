// The machine's own stalls, next to the figures they can spoil: cyclictest (Debian's rt-tests) runs a thread pinned
// to each CPU in the real-time class at the highest priority (99), which nothing in this machine's scheduler makes
// wait; each sleeps 1 ms at a time, and every wake-up later than 10 ms is kept. What it sees is time the CPU itself
// did not run (on a virtual machine, the host not running that virtual CPU), which every thread on that CPU lost too.
//
// It is a process of its own, not a worker thread of the benchmark's: as such threads (bench/rollout/stalls.mjs
// before) they froze every other thread of the machine for ~950 ms once in each run's idle phase — this kernel's
// real-time runtime per second — and the manager's event-loop delay showed it.
import { spawn, type ChildProcess } from 'node:child_process';

/** Stalls over 10 ms seen since the last take, in ms; `raised`: cyclictest ran at its real-time priority. */
export interface Stalls {
  stalls: number[];
  raised: boolean;
}

const SPIKE_US = 10_000;

/** The spikes cyclictest printed as it ended (`T: 0 Spike: 12345: TS: ...`, in µs), in ms. */
export function parseSpikes(output: string): number[] {
  return [...output.matchAll(/^T:\s*\d+\s+Spike:\s*(\d+):/gm)].map((m) => Number(m[1]) / 1000);
}

function start(): { proc: ChildProcess; done: Promise<Stalls> } {
  // -S: a thread per CPU, each pinned, all at -p; --default-system: leave the machine's power settings alone.
  const args = ['-q', '-S', '-p', '99', '--policy=rr', '-i', '1000', '-m', '--default-system', `--spike=${SPIKE_US}`, '--spike-nodes=100000'];
  const proc = spawn('cyclictest', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<Stalls>((resolve) => {
    proc.on('error', () => resolve({ stalls: [], raised: false }));
    proc.on('close', () => resolve({ stalls: parseSpikes(out), raised: /^T:\s*\d+\s+\(\s*\d+\)\s+P:\s*99\b/m.test(out) && !/error|unable/i.test(err) }));
  });
  return { proc, done };
}

/** A stall watch over the machine's CPUs; take() gives the stalls since the last take and starts watching again. */
export function stallWatch(): { take(): Promise<Stalls>; stop(): Promise<void> } {
  let current = start();
  const end = async (): Promise<Stalls> => {
    const { proc, done } = current;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGINT'); // it prints its summary and spikes
    return done;
  };
  return {
    async take() {
      const seen = await end();
      current = start();
      return seen;
    },
    stop: async () => void (await end()),
  };
}
