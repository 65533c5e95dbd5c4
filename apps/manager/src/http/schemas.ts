import { z } from '@hono/zod-openapi';
import { NodeRole, NodeStatus } from './protocol-schemas.ts';
import { PIPELINE_KINDS, PIPELINE_STATUSES, STEP_STATUSES } from '../pipelines/types.ts';
import { IpText } from './fields.ts';

/** Response and request bodies of the admin API, shared by routes and their OpenAPI document. */

export const PipelineBody = z
  .object({
    id: z.string(),
    kind: z.string(),
    subject: z.string(),
    status: z.enum(PIPELINE_STATUSES),
    steps: z.array(
      z.object({
        name: z.string(),
        target: z.string().nullable(),
        status: z.enum(STEP_STATUSES).openapi({ description: "`skipped`: the step's node became `fault` during the run, and what follows (its RECOVER_NODE, or drift repair for a removal) does the step instead; `error` says which" }),
        attempts: z.number().int(),
        error: z.string().nullable(),
      }),
    ),
    createdAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .openapi('Pipeline');

export const NodeBody = z
  .object({
    id: z.string(),
    name: z.string(),
    ip: z.string(),
    roles: z.array(NodeRole),
    agentPort: z.number().int(),
    status: NodeStatus,
    connected: z.boolean(),
    lastHeartbeatAt: z.string().nullable(),
    agentVersion: z.string().nullable(),
    duplicateAgentAt: z.string().nullable().openapi({ description: 'when a second agent using this node token last replaced the connection (shown for ten minutes)' }),
    tls: z.boolean().openapi({ description: 'the agent serves TLS; the manager never reaches it over plain HTTP' }),
    oldTokenValidUntil: z.string().nullable().openapi({ description: 'a rotated token waits for the agent; the previous one is accepted until then' }),
  })
  .openapi('Node');

export const NodeCreateBody = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit'),
    ip: IpText,
    roles: z.array(NodeRole).min(1, 'at least one role').max(4),
    agentPort: z.number().int().min(1).max(65535).optional(),
    tls: z.boolean().optional().openapi({ description: 'the agent serves its HTTP API over TLS (default: true when the manager has OCDN_AGENT_CA)' }),
  })
  .openapi('NodeCreate');

export const PipelineKindQuery = z.enum(PIPELINE_KINDS);


export const listOf = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item) });
