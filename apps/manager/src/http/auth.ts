import type { MiddlewareHandler } from 'hono';
import { bearerToken, type NodeRole } from '@ocdn/protocol';
import type { Db } from '../db/client.ts';
import { ServiceError } from '../errors.ts';
import { authenticateNodeToken } from '../nodes/agent-auth.ts';
import type { AppEnv } from './app-env.ts';

/** Agent routes: a live node's token, of a node with `role`; the node's id is set as `nodeId`. */
export function requireNode(db: Db, role: NodeRole): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c.req.header('authorization'));
    if (!token) throw new ServiceError('unauthorized', 'missing bearer token (Authorization: Bearer <node token>)');
    const node = await authenticateNodeToken(db, token);
    if (!node) throw new ServiceError('unauthorized', 'unknown or invalid node token');
    if (!node.roles.includes(role)) throw new ServiceError('forbidden', `this node does not have the ${role} role`);
    c.set('nodeId', node.nodeId);
    return next();
  };
}
