import { z } from '@hono/zod-openapi';
import type * as zm from 'zod/mini';
import * as P from '@ocdn/protocol';

/**
 * The protocol's schemas are written with zod/mini, which the agent bundles (classic zod would cost an idle agent
 * ~5 MiB). The OpenAPI generator works on classic zod schemas (it calls their methods), so the routes use classic
 * copies made here: the same definitions — checks, messages, defaults, transforms — under classic constructors. They
 * validate as the originals do (protocol-schemas.test.ts compares both on every exported schema).
 */
const made = new WeakMap<object, z.ZodType>();

type AnyDef = { type: string; [k: string]: unknown };

function build(schema: zm.ZodMiniType): z.ZodType {
  const def = schema._zod.def as unknown as AnyDef;
  const inner = (k: string) => classic(def[k] as zm.ZodMiniType);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const make = (Class: any, extra: Record<string, unknown> = {}): z.ZodType => new Class({ ...def, ...extra });
  switch (def.type) {
    case 'string':
      return make(z.ZodString);
    case 'number':
      return make((def as { check?: string }).check === 'number_format' ? z.ZodNumberFormat : z.ZodNumber);
    case 'boolean':
      return make(z.ZodBoolean);
    case 'unknown':
      return make(z.ZodUnknown);
    case 'literal':
      return make(z.ZodLiteral);
    case 'enum':
      return make(z.ZodEnum);
    case 'object':
      return make(z.ZodObject, { shape: Object.fromEntries(Object.entries(def.shape as Record<string, zm.ZodMiniType>).map(([k, v]) => [k, classic(v)])) });
    case 'array':
      return make(z.ZodArray, { element: inner('element') });
    case 'optional':
      return make(z.ZodOptional, { innerType: inner('innerType') });
    case 'nullable':
      return make(z.ZodNullable, { innerType: inner('innerType') });
    case 'default':
      return make(z.ZodDefault, { innerType: inner('innerType') });
    case 'pipe':
      return make(z.ZodPipe, { in: inner('in'), out: inner('out') });
    case 'transform':
      return make(z.ZodTransform);
    case 'union':
      return make('discriminator' in def ? z.ZodDiscriminatedUnion : z.ZodUnion, { options: (def.options as zm.ZodMiniType[]).map(classic) });
    default:
      throw new Error(`protocol schema of type ${def.type} has no classic copy yet (http/protocol-schemas.ts)`);
  }
}

/** A classic zod copy of a protocol (zod/mini) schema; the same object for the same schema. */
export function classic<T extends zm.ZodMiniType>(schema: T): z.ZodType<zm.output<T>, zm.input<T>> {
  if (schema instanceof z.ZodType) return schema as z.ZodType<zm.output<T>, zm.input<T>>;
  let copy = made.get(schema);
  if (!copy) made.set(schema, (copy = build(schema)));
  return copy as z.ZodType<zm.output<T>, zm.input<T>>;
}

export const DomainName = classic(P.DomainName);
export const ViewName = classic(P.ViewName);
export const NodeRole = classic(P.NodeRole);
export const NodeStatus = classic(P.NodeStatus);
export const ApiRole = classic(P.ApiRole);
export const VodTask = classic(P.VodTask) as unknown as z.ZodObject<{ [K in keyof P.VodTask]: z.ZodType<P.VodTask[K]> }>;
export const VodTaskStatus = classic(P.VodTaskStatus);
export const AgentVodTask = classic(P.AgentVodTask);
export const VodTaskPatch = classic(P.VodTaskPatch);
