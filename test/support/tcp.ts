import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The established TCP connection of process `pid` to local port `port`, read with `ss` from iproute2: its own port,
 * and the milliseconds since it last sent data (the kernel's `lastsnd`). Throws unless exactly one exists.
 */
export async function connectionTo(pid: number, port: number): Promise<{ localPort: number; msSinceLastSend: number }> {
  const { stdout } = await run('ss', ['-tniHp', 'state', 'established', 'dport', '=', `:${port}`]);
  // One connection is a line of addresses and owner, then an indented line of TCP_INFO.
  const blocks = stdout.split(/\n(?=\S)/).filter((b) => b.includes(`pid=${pid},`));
  if (blocks.length !== 1) throw new Error(`expected one connection of pid ${pid} to port ${port}, ss shows ${blocks.length}:\n${stdout}`);
  const local = /^\S+\s+\S+\s+\S+:(\d+)\s/.exec(blocks[0]!);
  const sent = /\blastsnd:(\d+)/.exec(blocks[0]!);
  if (!local || !sent) throw new Error(`cannot read the connection of pid ${pid}:\n${blocks[0]}`);
  return { localPort: Number(local[1]), msSinceLastSend: Number(sent[1]) };
}

/** Breaks a local TCP connection as a reset on the path would (`ss -K`: both ends see it closed). */
export async function resetConnection(localPort: number, port: number): Promise<void> {
  await run('ss', ['-K', 'state', 'established', 'sport', '=', `:${localPort}`, 'dport', '=', `:${port}`]);
}
