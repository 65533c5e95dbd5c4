import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { managerUrls, parseAgentEnv } from './env.ts';

const token = `nod_abc123def456.${'x'.repeat(43)}`;

describe('agent env', () => {
  it('requires the manager URL and the node token, naming both', () => {
    assert.throws(() => parseAgentEnv({}), (e: Error) => /OCDN_MANAGER_URL: is required/.test(e.message) && /OCDN_NODE_TOKEN: is required/.test(e.message));
  });
  it('refuses a token that is not a node token and a URL that is not http(s)', () => {
    assert.throws(() => parseAgentEnv({ OCDN_MANAGER_URL: 'ftp://x', OCDN_NODE_TOKEN: 'nope' }), (e: Error) => /OCDN_MANAGER_URL/.test(e.message) && /OCDN_NODE_TOKEN: is not a node token/.test(e.message));
  });
  it('has the documented defaults and splits commands into argument arrays', () => {
    const env = parseAgentEnv({ OCDN_MANAGER_URL: 'http://127.0.0.1:8080', OCDN_NODE_TOKEN: token, OCDN_NGINX_RELOAD_CMD: '/usr/sbin/nginx  -p /tmp/x -s reload' });
    assert.equal(env.OCDN_AGENT_HOST, '0.0.0.0');
    assert.equal(env.OCDN_AGENT_PORT, 8081);
    assert.equal(env.OCDN_NGINX_CONF_DIR, '/etc/nginx/conf.d/ocdn');
    assert.deepEqual(env.OCDN_NGINX_TEST_CMD, ['nginx', '-t']);
    assert.deepEqual(env.OCDN_NGINX_RELOAD_CMD, ['/usr/sbin/nginx', '-p', '/tmp/x', '-s', 'reload']);
    assert.equal(env.OCDN_DNS_DRIVER, 'bind');
    assert.equal(env.OCDN_FILES_DIR, '/var/lib/ocdn/files');
    assert.equal(env.OCDN_VOD_FSYNC, true);
  });
  it('takes a comma-separated list of manager replicas, each http(s)://host:port', () => {
    const env = parseAgentEnv({ OCDN_MANAGER_URL: 'http://10.0.0.1:8080, https://10.0.0.2:8443/', OCDN_NODE_TOKEN: token });
    assert.deepEqual(managerUrls(env.OCDN_MANAGER_URL), ['http://10.0.0.1:8080', 'https://10.0.0.2:8443/']);
    for (const bad of ['http://10.0.0.1:8080,ftp://x', ',', 'http://a:1/path', 'http://a:1 http://b:2']) {
      assert.throws(() => parseAgentEnv({ OCDN_MANAGER_URL: bad, OCDN_NODE_TOKEN: token }), /OCDN_MANAGER_URL: must be http\(s\):\/\/host:port, or several/, bad);
    }
  });
  it('takes OCDN_VOD_FSYNC as true or false only', () => {
    const base = { OCDN_MANAGER_URL: 'http://127.0.0.1:8080', OCDN_NODE_TOKEN: token };
    assert.equal(parseAgentEnv({ ...base, OCDN_VOD_FSYNC: 'false' }).OCDN_VOD_FSYNC, false);
    assert.throws(() => parseAgentEnv({ ...base, OCDN_VOD_FSYNC: 'yes' }), /OCDN_VOD_FSYNC: must be true or false/);
  });
});
