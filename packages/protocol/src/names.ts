import * as z from 'zod/mini';

/**
 * A DNS name as the API takes it: lower-case letters, digits and hyphens in labels of 1–63, at least two labels,
 * 253 characters at most, no trailing dot. Safe as a file name (no "/", no "..").
 */
export const DomainName = z
  .pipe(
    z.string().check(z.maxLength(253, 'at most 253 characters'), z.regex(/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'letters, digits, "." and "-" only')),
    z.transform((s: string) => s.toLowerCase()),
  )
  .check(
    z.refine((s) => /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/.test(s), {
      message: 'not a domain name (letters, digits and hyphens in dot-separated labels, no wildcards, no trailing dot)',
    }),
  );
export type DomainName = z.infer<typeof DomainName>;
