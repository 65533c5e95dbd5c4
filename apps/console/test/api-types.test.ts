// The console's API types (src/api/schema.d.ts) are generated from the manager's OpenAPI document; this fails while
// they are out of date, so a route change cannot leave the console typed against an API that no longer exists.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { SCHEMA_FILE, schemaSource } from '../scripts/api-types.ts';

it("the console's API types match the manager's OpenAPI document (npm run api-types --workspace=@ocdn/console)", async () => {
  assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), await schemaSource());
});
