// Writes src/api/schema.d.ts: the console's types for the admin API, generated from the manager's own OpenAPI
// document (openapi-typescript), so the console never retypes what the API answers. `npm run api-types
// --workspace=@ocdn/console` after changing a route; a test fails while the file is out of date.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import { openDatabase } from '../../manager/src/db/client.ts';
import { parseManagerEnv } from '../../manager/src/env.ts';
import { createLogger } from '../../manager/src/log.ts';
import { startManager } from '../../manager/src/start-manager.ts';

export const SCHEMA_FILE = fileURLToPath(new URL('../src/api/schema.d.ts', import.meta.url));

/** The manager's OpenAPI document, from a manager started in memory. */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const database = await openDatabase({ memory: true });
  const env = parseManagerEnv({ OCDN_ADMIN_TOKEN: 'api-types-token-0123456789', OCDN_HTTP_PORT: '0', OCDN_DNS_PORT: '0', OCDN_LOG_LEVEL: 'silent' });
  const m = await startManager(env, { database, listen: false, log: createLogger('silent') });
  try {
    return (await (await m.app.request('/openapi.json')).json()) as Record<string, unknown>;
  } finally {
    await m.stop();
    await database.close();
  }
}

export async function schemaSource(): Promise<string> {
  const ast = await openapiTS((await openApiDocument()) as never);
  return `// Generated from the manager's OpenAPI document by scripts/api-types.ts. Do not edit.\n${astToString(ast)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  schemaSource().then(
    (text) => {
      writeFileSync(SCHEMA_FILE, text);
      console.log(`wrote ${SCHEMA_FILE}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
