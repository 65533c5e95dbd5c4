import type { Principal } from '../access/tokens.ts';

/** What the HTTP app's middleware sets for the routes after it (Hono's `Variables`). */
export type AppEnv = {
  Variables: {
    requestStart: number;
    /** The calling node, on agent routes. */
    nodeId?: string;
    /** The caller of an admin route (its token, by bearer header or session cookie). */
    principal?: Principal;
    /** The console session the request came with, when it came with one. */
    sessionId?: string;
    /** The peer address of the connection. */
    sourceIp?: string;
  };
};
