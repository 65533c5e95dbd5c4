import { readFileSync } from 'node:fs';

/** A thread's stat fields after the command name: nice is 16, the real-time priority 37, the policy 38 (SCHED_RR: 2). */
export function schedOf(path: string): { nice: number; policy: number; rtPriority: number } {
  const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
  return { nice: Number(fields[16]), policy: Number(fields[38]), rtPriority: Number(fields[37]) };
}
