import { RpcMethods, type RpcErrorCode } from '@ocdn/protocol';

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

export type MethodHandler = (params: any) => Promise<unknown>;

/** Dispatches a method call from the manager (socket or HTTP) to its handler, validating params on the way in. */
export class RpcDispatcher {
  private readonly handlers = new Map<string, MethodHandler>();

  register(method: keyof typeof RpcMethods, handler: MethodHandler): void {
    this.handlers.set(method, handler);
  }

  async dispatch(method: string, params: unknown): Promise<unknown> {
    const handler = this.handlers.get(method);
    const spec = (RpcMethods as Record<string, { params: { safeParse(v: unknown): any } }>)[method];
    if (!handler || !spec) throw new AgentRpcError('unknown_method', `this agent has no method "${method}"`);
    const parsed = spec.params.safeParse(params ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AgentRpcError('invalid_params', `invalid params for ${method}: ${issue?.path?.join('.') || 'params'}: ${issue?.message}`);
    }
    return handler(parsed.data);
  }
}
