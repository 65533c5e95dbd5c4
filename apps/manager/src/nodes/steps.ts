import { NodeStatus } from '@ocdn/protocol';
import type { ManagerContext } from '../context.ts';
import type { StepHandler, StepName } from '../pipelines/types.ts';
import { OCDN_NODE_HEART, nodeEndpoint } from './heart.ts';
import { OCDN_NODE_STATUS } from './status.ts';

/** Pipeline step handlers of the node modules. */
export function nodeStepHandlers(ctx: ManagerContext): Partial<Record<StepName, StepHandler>> {
  return {
    async OCDN_NODE_HEART(_step, params) {
      const node = await nodeEndpoint(ctx, String(params.nodeId));
      await OCDN_NODE_HEART(ctx, node, 3_000);
    },
    async OCDN_NODE_STATUS(_step, params) {
      await OCDN_NODE_STATUS(ctx, String(params.nodeId), NodeStatus.parse(params.status));
    },
  };
}
