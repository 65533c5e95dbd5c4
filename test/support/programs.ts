import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function findProgram(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin'])) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

/**
 * Returns the program's path. When it is missing the test is skipped locally with the message
 * "missing program: <name>", but under CI=true that is a failure: CI must install everything the tests need.
 */
export function requireProgram(t: object, name: string): string | null {
  const p = findProgram(name);
  if (p) return p;
  if (process.env.CI === 'true') throw new Error(`missing program: ${name} is required under CI=true (.ci/run must install it)`);
  // In a suite hook there is no skip; the tests then skip themselves with the same message.
  if ('skip' in t && typeof t.skip === 'function') t.skip(`missing program: ${name}`);
  return null;
}
