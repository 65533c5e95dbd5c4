import { RpcMethods, type RpcErrorCode, type RpcMethodName, type RpcParams } from '@ocdn/protocol';
import type * as z from 'zod/mini';

/** An RPC failure with a protocol error code; the manager sees code and message. */
export class AgentRpcError extends Error {
  constructor(
    readonly code: RpcErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** A method's handler, typed from the protocol's method table: the params it is given, the result it owes. */
export type MethodHandler<M extends RpcMethodName> = (params: RpcParams<M>) => Promise<z.input<(typeof RpcMethods)[M]['result']>>;

/** Dispatches a method call from the manager (socket or HTTP) to its handler, validating params on the way in. */
export class RpcDispatcher {
  private readonly handlers = new Map<string, (params: unknown) => Promise<unknown>>();

  register<M extends RpcMethodName>(method: M, handler: MethodHandler<M>): void {
    this.handlers.set(method, handler as (params: unknown) => Promise<unknown>);
  }

  async dispatch(method: string, params: unknown): Promise<unknown> {
    const handler = this.handlers.get(method);
    const spec = (RpcMethods as Record<string, { params: z.ZodMiniType }>)[method];
    if (!handler || !spec) throw new AgentRpcError('unknown_method', `this agent has no method "${method}"`);
    const parsed = spec.params.safeParse(params ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AgentRpcError('invalid_params', `invalid params for ${method}: ${issue?.path?.join('.') || 'params'}: ${issue?.message}`);
    }
    return handler(parsed.data);
  }
}
