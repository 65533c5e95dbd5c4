import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseManagerEnv, parseNameServers } from './env.ts';

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
  it('reads OCDN_DNS_NS as name=ip entries and refuses anything else, naming the variable', () => {
    assert.deepEqual(parseNameServers('NS1.cdn.example.=192.0.2.1, ns2.cdn.example=2001:db8::2'), [
      { name: 'ns1.cdn.example', ip: '192.0.2.1' },
      { name: 'ns2.cdn.example', ip: '2001:db8::2' },
    ]);
    assert.equal(parseManagerEnv({}).OCDN_DNS_MAX_ANSWERS, 8);
    for (const bad of ['ns1.example', 'ns1.example=', '=192.0.2.1', 'ns1.example=not-an-ip', 'bad name=192.0.2.1', ',']) {
      assert.throws(() => parseManagerEnv({ OCDN_DNS_NS: bad }), /OCDN_DNS_NS: must be a comma-separated list of name=ip/, bad);
    }
    assert.throws(() => parseManagerEnv({ OCDN_DNS_MAX_ANSWERS: '-1' }), /OCDN_DNS_MAX_ANSWERS/);
  });
  it('reads OCDN_DNS_NICE as a nice value or off', () => {
    assert.equal(parseManagerEnv({}).OCDN_DNS_NICE, -10);
    assert.equal(parseManagerEnv({ OCDN_DNS_NICE: '5' }).OCDN_DNS_NICE, 5);
    assert.equal(parseManagerEnv({ OCDN_DNS_NICE: 'off' }).OCDN_DNS_NICE, null);
    for (const bad of ['-21', '20', 'high', '1.5']) assert.throws(() => parseManagerEnv({ OCDN_DNS_NICE: bad }), /OCDN_DNS_NICE/, bad);
  });
  it('reads OCDN_DNS_RT_PRIORITY as a real-time priority or off', () => {
    assert.equal(parseManagerEnv({}).OCDN_DNS_RT_PRIORITY, 1);
    assert.equal(parseManagerEnv({ OCDN_DNS_RT_PRIORITY: '10' }).OCDN_DNS_RT_PRIORITY, 10);
    assert.equal(parseManagerEnv({ OCDN_DNS_RT_PRIORITY: 'off' }).OCDN_DNS_RT_PRIORITY, null);
    for (const bad of ['0', '100', 'rr', '1.5', '-1']) assert.throws(() => parseManagerEnv({ OCDN_DNS_RT_PRIORITY: bad }), /OCDN_DNS_RT_PRIORITY/, bad);
  });
  it('reads OCDN_DNS_ANSWERERS, more than one only with OCDN_DNS_ISOLATION=process', () => {
    assert.equal(parseManagerEnv({}).OCDN_DNS_ANSWERERS, 1);
    assert.equal(parseManagerEnv({ OCDN_DNS_ISOLATION: 'process', OCDN_DNS_ANSWERERS: '4' }).OCDN_DNS_ANSWERERS, 4);
    assert.throws(() => parseManagerEnv({ OCDN_DNS_ANSWERERS: '2' }), /OCDN_DNS_ANSWERERS.*OCDN_DNS_ISOLATION=process/);
    for (const bad of ['0', '65', 'two', '1.5']) assert.throws(() => parseManagerEnv({ OCDN_DNS_ISOLATION: 'process', OCDN_DNS_ANSWERERS: bad }), /OCDN_DNS_ANSWERERS/, bad);
  });
  it('reads OCDN_DNS_ISOLATION as thread (default) or process', () => {
    assert.equal(parseManagerEnv({}).OCDN_DNS_ISOLATION, 'thread');
    assert.equal(parseManagerEnv({ OCDN_DNS_ISOLATION: 'process' }).OCDN_DNS_ISOLATION, 'process');
    for (const bad of ['fork', 'Thread', 'off']) assert.throws(() => parseManagerEnv({ OCDN_DNS_ISOLATION: bad }), /OCDN_DNS_ISOLATION/, bad);
  });
  it('reads OCDN_HEALTH_WATCH as auto (default), thread or off', () => {
    assert.equal(parseManagerEnv({}).OCDN_HEALTH_WATCH, 'auto');
    assert.equal(parseManagerEnv({ OCDN_HEALTH_WATCH: 'thread' }).OCDN_HEALTH_WATCH, 'thread');
    assert.equal(parseManagerEnv({ OCDN_HEALTH_WATCH: 'off' }).OCDN_HEALTH_WATCH, 'off');
    for (const bad of ['on', 'process', 'Thread']) assert.throws(() => parseManagerEnv({ OCDN_HEALTH_WATCH: bad }), /OCDN_HEALTH_WATCH/, bad);
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
