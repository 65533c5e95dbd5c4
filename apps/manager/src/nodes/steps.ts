import type { CoreContext } from '../context.ts';
import type { StepHandlers } from '../pipelines/types.ts';
import { OCDN_NODE_HEART, nodeEndpoint } from './heart.ts';
import { OCDN_NODE_STATUS } from './status.ts';

/** The step handlers of the node modules. */
export function nodeStepHandlers(ctx: CoreContext): Pick<StepHandlers, 'OCDN_NODE_HEART' | 'OCDN_NODE_STATUS'> {
  return {
    async OCDN_NODE_HEART(_step, p) {
      await OCDN_NODE_HEART(ctx, await nodeEndpoint(ctx, p.nodeId), 3_000);
    },
    async OCDN_NODE_STATUS(_step, p) {
      await OCDN_NODE_STATUS(ctx, p.nodeId, p.status);
    },
  };
}
