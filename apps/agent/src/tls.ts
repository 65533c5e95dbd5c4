import { readFileSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { AgentEnv } from './env.ts';

/** What the agent trusts and presents, read once at start (a missing file stops the start with its name). */
export interface AgentTls {
  /** The agent's own certificate and key: its HTTP API serves TLS. */
  server: { cert: Buffer; key: Buffer } | null;
  /** Trusted for an https:// manager (undefined: the system store). */
  managerCa: string | undefined;
  /** Trusted for other agents (VOD sources over TLS). */
  peerCa: string | undefined;
  /**
   * HTTP client for the manager's API, trusting managerCa; made on first use (only the vod role calls the manager
   * over HTTP, and undici is the largest module an agent would otherwise load at start).
   */
  managerDispatcher(): Promise<Dispatcher>;
  /** Closes the client's connections, if it was ever made. */
  closeManagerDispatcher(): Promise<void>;
}

function read(path: string | undefined, variable: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${variable}: cannot read ${path}: ${(err as Error).message}`);
  }
}

export function loadAgentTls(env: AgentEnv): AgentTls {
  const cert = read(env.OCDN_AGENT_TLS_CERT, 'OCDN_AGENT_TLS_CERT');
  const key = read(env.OCDN_AGENT_TLS_KEY, 'OCDN_AGENT_TLS_KEY');
  const managerCa = read(env.OCDN_MANAGER_CA, 'OCDN_MANAGER_CA')?.toString('utf8');
  const peerCa = read(env.OCDN_PEER_CA, 'OCDN_PEER_CA')?.toString('utf8') ?? managerCa;
  let dispatcher: Promise<Dispatcher> | undefined;
  return {
    server: cert && key ? { cert, key } : null,
    managerCa,
    peerCa,
    managerDispatcher() {
      dispatcher ??= import('undici').then(({ Agent }) => new Agent({ connect: managerCa ? { ca: managerCa } : {} }));
      return dispatcher;
    },
    async closeManagerDispatcher() {
      await (await dispatcher)?.destroy();
    },
  };
}
