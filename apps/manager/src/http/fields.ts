import { z } from '@hono/zod-openapi';

/**
 * Field schemas shared by every admin route. The rule: the API stores what it validated, or refuses the request
 * with a 400 that names the field — never repairs a value (no trimming, no URL-parser fix-ups). Each schema
 * carries its pattern into the OpenAPI document, so clients (and the fuzz test) see the same rule the server
 * applies. Documented canonical forms (lower-cased names, compressed IPv6) are the only rewriting.
 */

/** No control character at all (C0, DEL), and no white space at either end. */
const SINGLE_LINE = /^(?:[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?)$/;

/** A resource's display name: 1–100 characters, no control characters, no white space at either end. */
export const Name = z.string().min(1).max(100).regex(SINGLE_LINE, 'no control characters and no white space at either end');

/** Free text: tabs and line breaks are fine, other control characters (NUL included) are not. */
export const Comment = z
  .string()
  .max(1000)
  .regex(/^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$/, 'no control characters other than tab and line breaks');

/** An id in a path or a reference (`nod_…`, `fwg_…`, a node name): letters, digits, `.`, `_`, `-`. */
export const Id = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'an id: letters, digits, ".", "_" and "-", starting with a letter or digit');

export const IdParam = z.object({ id: Id });

/** An IP address as written (IPv4 or IPv6), checked further by the service. */
export const IpText = z
  .string()
  .min(2)
  .max(45)
  .regex(/^[0-9A-Fa-f.:]+$/, 'an IPv4 or IPv6 address (digits, hex, "." and ":" only)');

/** A forwarder address: `IPv4`, `IPv4:port`, `IPv6` or `[IPv6]:port`, checked further by the service. */
export const ForwarderAddress = z
  .string()
  .min(2)
  .max(64)
  .regex(/^[0-9A-Fa-f.:[\]]+$/, 'IPv4, IPv4:port, IPv6 or [IPv6]:port, nothing else');

/** A view's client match: `any`, an address or a CIDR prefix, checked further by the service. */
export const ClientMatch = z
  .string()
  .min(1)
  .max(64)
  .regex(/^(?:any|[0-9A-Fa-f.:]+(?:\/[0-9]{1,3})?)$/, '"any", an address or a CIDR prefix');

/** An origin: `http(s)://host[:port]` with nothing around it; the host and port are checked by the service. */
export const Origin = z
  .string()
  .min(8)
  .max(300)
  .regex(/^https?:\/\/[^\s/?#@\\\x00-\x1f\x7f]+$/, 'http(s)://host[:port]: a literal host, no path, no white space');

/** A name to forward or group (`corp`, `corp.example`); the service checks the labels and lower-cases it. */
export const ForwardName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/, 'a domain name: labels of letters, digits, "-" and "_", no trailing dot');

/** A time of a scheduler period (`H:MM`, `D H:MM`, `M D H:MM`, `YYYY M D H:MM`); the service checks the format. */
export const TimeText = z
  .string()
  .min(4)
  .max(32)
  .regex(/^[0-9](?:[0-9: ]*[0-9])?$/, 'digits, single spaces and ":" (H:MM, D H:MM, M D H:MM or YYYY M D H:MM)');

/** An IANA time zone name (`Europe/Berlin`, `UTC`); the service checks that it exists. */
export const TimeZone = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z][A-Za-z0-9_+\-/]*$/, 'an IANA time zone name such as Europe/Berlin');

/** A DNS label (a domain's published sub-domain); lower-cased. */
export const Label = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/, 'a DNS label: letters, digits and "-", not at either end')
  .transform((s) => s.toLowerCase());

/**
 * A whole number in a query string, written plainly (no sign, no white space, no leading zeros): `?limit=` is
 * refused rather than read as 0, as a coercing parser would.
 */
export const QueryInt = (min: number, max: number) =>
  z
    .string()
    .max(10)
    .regex(/^(?:0|[1-9][0-9]{0,8})$/, 'a whole number written with digits only')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
