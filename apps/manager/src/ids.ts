import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A prefixed random id such as `nod_3kf9x0q2m1z8`: readable in logs, sortable only by chance. */
export function newId(prefix: 'nod' | 'pip' | 'dom' | 'fzn' | 'tsk' | 'fwg' | 'dmg' | 'tms' | 'req' | 'tok' | 'ses'): string {
  const bytes = randomBytes(16);
  let s = '';
  for (const b of bytes) s += ALPHABET[b % 36];
  return `${prefix}_${s}`;
}
