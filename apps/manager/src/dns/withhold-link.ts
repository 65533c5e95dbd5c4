// Dead nodes' addresses from the health watch thread (nodes/watch-worker.ts) straight to answering processes
// (OCDN_DNS_ISOLATION=process), as the shared-memory ring does for a thread (feed.ts): over the manager's thread they
// waited behind pipeline work (out of DNS p99 279 ms during a 1,000 x 50 rollout, against ~12 ms through the ring).
// Each process listens on a Unix socket of its own in a directory only the manager's user can enter; the watch
// thread connects to each and writes one JSON line per address. The manager's thread still sends the same withhold
// over the IPC channel when it starts FAULT_NODE, so a link that is down delays an address, never keeps it.
import { rmdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import net from 'node:net';
import type { Withhold } from './messages.ts';

/** sun_path holds 108 bytes with its terminating NUL. */
export const MAX_SOCKET_PATH = 107;

/** An answering process's side: each well-formed line's address is handed to `withhold`. */
export function listenWithholds(path: string, withhold: (m: Withhold) => void): Promise<net.Server> {
  try {
    unlinkSync(path); // left by the process this one replaces
  } catch {
    // none
  }
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = parseWithhold(line);
        if (m) withhold(m);
      }
      if (buf.length > 4096) sock.destroy(); // no line is that long
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      server.on('error', () => {}); // a failed accept; the server stays up
      resolve(server);
    });
  });
}

/**
 * Removes a process's socket and, once the last is gone, their directory (the manager made it for them alone): the
 * process that removes its socket last finds the directory empty, whatever the order.
 */
export function removeWithholdSocket(path: string): void {
  for (const remove of [() => unlinkSync(path), () => rmdirSync(dirname(path))]) {
    try {
      remove();
    } catch {
      // gone already, or other processes' sockets still in it
    }
  }
}

function parseWithhold(line: string): Withhold | null {
  try {
    const m = JSON.parse(line) as Partial<Withhold>;
    return m.op === 'withhold' && typeof m.ip === 'string' && m.ip.length <= 64 ? { op: 'withhold', ip: m.ip } : null;
  } catch {
    return null;
  }
}

/** The watch thread's side: a connection to each process's socket, made again while the process is restarted. */
export class WithholdLinks {
  private readonly socks = new Map<string, net.Socket>();
  private stopped = false;

  constructor(
    paths: readonly string[],
    private readonly retryMs = 250,
  ) {
    for (const p of paths) this.connect(p);
  }

  /** Connected links now (for tests). */
  get connected(): number {
    return [...this.socks.values()].filter((s) => !s.connecting && !s.destroyed).length;
  }

  /** Writes `m` to every process connected now. */
  write(m: Withhold): void {
    const line = `${JSON.stringify(m)}\n`;
    for (const sock of this.socks.values()) if (!sock.connecting && !sock.destroyed) sock.write(line);
  }

  stop(): void {
    this.stopped = true;
    for (const sock of this.socks.values()) sock.destroy();
    this.socks.clear();
  }

  private connect(path: string): void {
    if (this.stopped) return;
    const sock = net.connect(path);
    this.socks.set(path, sock);
    sock.on('error', () => {}); // 'close' follows
    sock.on('close', () => {
      if (this.socks.get(path) === sock) this.socks.delete(path);
      if (!this.stopped) setTimeout(() => this.connect(path), this.retryMs).unref();
    });
    sock.unref();
  }
}
