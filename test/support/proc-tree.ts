import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Processes whose parent is `parent` and whose command line mentions `word` (read from /proc). */
export function childrenOf(parent: number, word: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(word);
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** The process has ended (gone, or a zombie its parent has not reaped). */
export function processGone(pid: number): boolean {
  try {
    return !existsSync(`/proc/${pid}/stat`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return true; // gone while read
  }
}
