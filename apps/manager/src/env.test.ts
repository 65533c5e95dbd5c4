import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseManagerEnv } from './env.ts';

describe('manager env', () => {
  it('has the documented defaults', () => {
    const env = parseManagerEnv({});
    assert.equal(env.OCDN_HTTP_HOST, '127.0.0.1');
    assert.equal(env.OCDN_HTTP_PORT, 8080);
    assert.equal(env.OCDN_DATA_DIR, './data');
    assert.equal(env.DATABASE_URL, undefined);
    assert.equal(env.OCDN_DNS_PROVIDER, 'builtin');
    assert.equal(env.OCDN_DNS_ZONE, 'cdn.ocdn.test');
    assert.equal(env.OCDN_DNS_PORT, 5353);
    assert.equal(env.OCDN_HEARTBEAT_INTERVAL_MS, 1000);
    assert.equal(env.OCDN_FAULT_AFTER, 3);
    assert.equal(env.OCDN_RECOVER_AFTER, 3);
  });
  it('coerces numbers and treats empty values as unset', () => {
    const env = parseManagerEnv({ OCDN_HTTP_PORT: '9000', OCDN_FAULT_AFTER: '5', DATABASE_URL: '' });
    assert.equal(env.OCDN_HTTP_PORT, 9000);
    assert.equal(env.OCDN_FAULT_AFTER, 5);
    assert.equal(env.DATABASE_URL, undefined);
  });
  it('names every bad variable', () => {
    assert.throws(
      () => parseManagerEnv({ OCDN_HTTP_PORT: '70000', DATABASE_URL: 'mysql://x', OCDN_ADMIN_TOKEN: 'short', OCDN_DNS_PROVIDER: 'route53' }),
      (err: Error) =>
        /OCDN_HTTP_PORT/.test(err.message) &&
        /DATABASE_URL: must be a postgres/.test(err.message) &&
        /OCDN_ADMIN_TOKEN: must be at least 16/.test(err.message) &&
        /OCDN_DNS_PROVIDER/.test(err.message),
    );
  });
});
