import * as z from 'zod/mini';

/**
 * DNS forwarding as a DNS node receives it: the whole desired state, every view with the forward zones in effect
 * now. The agent renders it for its resolver, writes only what changed, validates, applies without a restart and
 * flushes the cache under every zone whose forwarding changed.
 */

export const ViewName = z.string().check(z.minLength(1), z.maxLength(63), z.regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'letters, digits, "_" and "-", starting with a letter or digit'));

export const Forwarder = z.object({ ip: z.string().check(z.minLength(2), z.maxLength(45)), port: z.int().check(z.gte(1), z.lte(65535)) });
export type Forwarder = z.infer<typeof Forwarder>;

/** One forward zone in effect: `name` is "." for root, else a domain without trailing dot. */
export const ActiveForwardZone = z.object({
  name: z.string().check(z.minLength(1), z.maxLength(253)),
  style: z.enum(['first', 'only']),
  forwarders: z.array(Forwarder).check(z.minLength(1)),
});
export type ActiveForwardZone = z.infer<typeof ActiveForwardZone>;

export const DnsViewState = z.object({ name: ViewName, matchClients: z.array(z.string()), zones: z.array(ActiveForwardZone) });
export type DnsViewState = z.infer<typeof DnsViewState>;

/** `dns.apply`: the desired state; `hash` identifies it (the agent reports it back in its hello). */
export const DnsApplyRequest = z.strictObject({ hash: z.string().check(z.minLength(1), z.maxLength(128)), views: z.array(DnsViewState) });
export type DnsApplyRequest = z.infer<typeof DnsApplyRequest>;

export const DnsApplyResponse = z.object({
  hash: z.string(),
  /** Views whose rendered configuration changed. */
  changed: z.array(z.string()),
  /** Zones flushed from the cache, as `view/zone`. */
  flushed: z.array(z.string()),
  /** What the driver could not do, e.g. per-view forwarders on Unbound. */
  warnings: z.array(z.string()),
  driver: z.enum(['bind', 'unbound']),
});
export type DnsApplyResponse = z.infer<typeof DnsApplyResponse>;
