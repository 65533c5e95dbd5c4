/** Structural view of a zod object schema, so this file needs no zod import. */
interface EnvSchema<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}

/**
 * Parses an environment with an app's schema. Empty values count as unset; a failure throws one Error whose
 * message names every bad variable, so a process can print it and exit.
 */
export function parseEnv<T>(schema: EnvSchema<T>, source: Record<string, string | undefined>, what: string): T {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const r = schema.safeParse(cleaned);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${i.path.map(String).join('.') || '(env)'}: ${i.message}`);
  throw new Error(`invalid ${what} configuration:\n${lines.join('\n')}`);
}
