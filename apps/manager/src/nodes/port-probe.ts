import { connect } from 'node:net';
import type { NodeEndpoint } from '../hub/traffic.ts';
import { afterPendingIo } from '../hub/lag.ts';

/**
 * Whether anything accepts a TCP connection on the agent's port: `refused` (the host answered that nothing listens
 * there — the agent's process is gone), `timeout` (no answer at all — the host is down or cut off), or `open`. One
 * connect is one turn of the event loop, against a dozen for an HTTP request: on a busy manager each turn waits, and
 * a dead agent's port answers at once.
 */
export function agentPortState(node: Pick<NodeEndpoint, 'ip' | 'agentPort'>, timeoutMs: number): Promise<'open' | 'refused' | 'timeout'> {
  return new Promise((resolve) => {
    const socket = connect({ host: node.ip, port: node.agentPort });
    let settled = false;
    const done = (state: 'open' | 'refused' | 'timeout') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(state);
    };
    // A connect that completed while this thread was busy is reported in the poll phase after the timers.
    const timer = setTimeout(() => afterPendingIo(() => done('timeout')), timeoutMs);
    socket.once('connect', () => done('open'));
    // ECONNREFUSED, and the host's other answers (unreachable): nothing there to answer a heartbeat either
    socket.once('error', () => done('refused'));
  });
}
