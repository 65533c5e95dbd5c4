import type { AgentHelloFrame, NodeRole } from '@ocdn/protocol';
import type { AgentRoutes } from './http.ts';
import { AgentRpcError, type RpcDispatcher } from './rpc.ts';

/** What a role holds, as the hello reports it (the manager sends only what is missing). */
export type HeldConfig = AgentHelloFrame['configs'][number];

/**
 * One role of the agent (cdn, dns, vod): it registers its RPC methods and its HTTP routes, reports what it holds,
 * and starts what it runs once the manager's welcome says the node has the role.
 */
export interface AgentRole {
  rpc(rpc: RpcDispatcher): void;
  /** Routes behind the node-token check; the REST routes of RPC methods dispatch through `rpc`. */
  routes?(http: AgentRoutes, rpc: RpcDispatcher): void;
  /** Routes that check their callers themselves (a file behind a URL the manager signed). */
  publicRoutes?(http: AgentRoutes): void;
  held?(): Promise<HeldConfig[]>;
  welcome(): void;
  stop?(): Promise<void>;
}

/**
 * The node's roles, from the manager's welcome. Until the first welcome, calls are not refused for their role (a
 * replica without the agent's socket may call before the agent has connected anywhere).
 */
export class RoleGate {
  roles: NodeRole[] = [];
  private known = false;

  welcome(roles: NodeRole[]): void {
    this.roles = roles;
    this.known = true;
  }

  has(...any: NodeRole[]): boolean {
    return any.some((r) => this.roles.includes(r));
  }

  /** Throws role_not_enabled unless the node has one of these roles (or its roles are not known yet). */
  require(...any: NodeRole[]): void {
    if (this.known && !this.has(...any)) throw new AgentRpcError('role_not_enabled', `this node does not have the ${any.join(' or ')} role`);
  }
}

/** Starts a driver once, on first use; a start that failed is tried again on the next use. */
export function startOnce(start: () => Promise<void>, unusable: (err: Error) => string): () => Promise<void> {
  let ready: Promise<void> | null = null;
  return () => {
    ready ??= start().catch((err: unknown) => {
      ready = null;
      throw new AgentRpcError('driver_unavailable', unusable(err as Error));
    });
    return ready;
  };
}
