// The health watch thread's heartbeat probes: OCDN_NODE_HEART's check over the agent's HTTP API (`GET /heartbeat`),
// for nodes whose agent has no link to this replica. After a manager restart that is every node until its agent
// reconnects: the first tick probed 5,000 agents with `fetch` on the manager's thread, and the collector work and
// parsing that came with them delayed the tick after it past the overload threshold. Here they cost that thread one
// message each way per batch.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { checkProtocolCompatibility } from '@ocdn/protocol/version';
import type { NodeEndpoint } from '../hub/traffic.ts';

/** `ip` as the host of a URL or a Host header (an IPv6 address in brackets). */
export const hostOf = (ip: string): string => (net.isIPv6(ip) ? `[${ip}]` : ip);

/**
 * TLS options for an agent registered with TLS: its certificate checked against `ca` (OCDN_AGENT_CA; else the system
 * store), and by name when it was registered by name.
 */
export const agentTls = (ip: string, ca: string | null): { ca?: string; servername?: string } => ({
  ...(ca ? { ca } : {}),
  ...(net.isIP(ip) ? {} : { servername: ip }),
});

/** A heartbeat's answer is a few hundred bytes; anything much larger is not an agent. */
const MAX_ANSWER = 64 * 1024;

/**
 * Asks the node's agent for its heartbeat over a connection of its own (not kept: probes are needed while links are
 * down, and a kept connection per agent would be one more open file each). Null when the agent answered as the node
 * it should be, speaking our protocol; else why not.
 */
export function probeHeartbeat(node: NodeEndpoint, timeoutMs: number, ca: string | null): Promise<string | null> {
  return new Promise((resolve) => {
    const base = `${node.tls ? 'https' : 'http'}://${hostOf(node.ip)}:${node.agentPort}`;
    let settled = false;
    const done = (reason: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(reason);
    };
    const options: https.RequestOptions = {
      host: node.ip,
      port: node.agentPort,
      path: '/heartbeat',
      agent: false,
      headers: { authorization: `Bearer ${node.token}` },
      ...(node.tls ? agentTls(node.ip, ca) : {}), // a node registered with TLS is reached over https only
    };
    const req = (node.tls ? https : http).get(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER) done(`agent at ${base} answered its heartbeat with over ${MAX_ANSWER} bytes`);
        else chunks.push(chunk);
      });
      res.once('end', () => done(judge(node, base, res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
      res.once('error', (err) => done(`agent HTTP API at ${base}: ${err.message}`));
    });
    req.once('error', (err: NodeJS.ErrnoException) => done(`agent HTTP API at ${base} unreachable: ${err.code ?? err.message}`));
    const timer = setTimeout(() => done(`node.heartbeat over HTTP got no answer within ${timeoutMs} ms`), timeoutMs);
  });
}

/** What OCDN_NODE_HEART checks of an answer: a 200, the node's own id, a protocol this manager speaks. */
function judge(node: NodeEndpoint, base: string, status: number, text: string): string | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status !== 200) {
    const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
    return typeof message === 'string' ? message : `agent at ${base} answered its heartbeat with HTTP ${status}`;
  }
  if (body === undefined) return `agent at ${base} answered its heartbeat with a body that is not JSON`;
  const { nodeId, protocolVersion } = (body ?? {}) as { nodeId?: unknown; protocolVersion?: unknown };
  if (typeof nodeId !== 'string' || typeof protocolVersion !== 'string') return `agent at ${base} answered its heartbeat without a node id and protocol version`;
  if (nodeId !== node.id) return `agent at ${node.ip}:${node.agentPort} is node ${nodeId}, not ${node.id}`;
  const compat = checkProtocolCompatibility(protocolVersion);
  return compat.ok ? null : `agent at ${node.ip}: ${compat.reason}`;
}
