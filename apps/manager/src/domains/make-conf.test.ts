import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OCDN_MAKE_CONF, listenFor, parseOrigin, upstreamName } from './make-conf.ts';

const base = { domain: 'shop.example.com', cname: 'shop-example-com.cdn.ocdn.test', version: 7, listen: '80' };

describe('OCDN_MAKE_CONF', () => {
  it('renders header, listen, names, upstream with failover, cache and headers', () => {
    const conf = OCDN_MAKE_CONF({ ...base, origins: ['http://10.0.0.1:8080', 'http://origin-b.example.net'] });
    assert.match(conf, /^# ocdn domain=shop\.example\.com version=7 /);
    assert.match(conf, /listen 80;/);
    assert.match(conf, /server_name shop\.example\.com shop-example-com\.cdn\.ocdn\.test;/);
    assert.match(conf, /server 10\.0\.0\.1:8080 max_fails=2 fail_timeout=10s;/);
    assert.match(conf, /server origin-b\.example\.net:80 max_fails=2 fail_timeout=10s backup;/);
    assert.match(conf, /proxy_cache ocdn_cache;/);
    assert.match(conf, /proxy_set_header Host \$host;/);
    assert.match(conf, /proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
    assert.match(conf, /add_header X-Ocdn-Config-Version 7 always;/);
    assert.ok(!conf.includes('proxy_ssl'));
  });
  it('sends SNI to https origins', () => {
    const conf = OCDN_MAKE_CONF({ ...base, origins: ['https://secure.example.net'] });
    assert.match(conf, /server secure\.example\.net:443 /);
    assert.match(conf, /proxy_pass https:\/\//);
    assert.match(conf, /proxy_ssl_name secure\.example\.net;/);
  });
  it('refuses origins that are not plain http(s) URLs, or mixed schemes', () => {
    for (const o of ['ftp://x.example', 'x.example', 'http://user:pw@x.example', 'http://x.example/path', 'http://x.example/?q=1', 'http://x.example;rm']) {
      assert.throws(() => parseOrigin(o), Error, o);
    }
    assert.throws(() => OCDN_MAKE_CONF({ ...base, origins: ['http://a.example', 'https://b.example'] }), /same scheme/);
    assert.throws(() => OCDN_MAKE_CONF({ ...base, origins: [] }), /at least one origin/);
  });
  it('keeps upstream names apart for names that differ only in punctuation', () => {
    assert.notEqual(upstreamName('a-b.example'), upstreamName('a.b.example'));
    assert.match(upstreamName('a-b.example'), /^ocdn_[a-z0-9_]+$/);
  });
  it('puts the node ip into the listen template', () => {
    assert.equal(listenFor('{ip}:8080', '127.0.0.2'), '127.0.0.2:8080');
    assert.equal(listenFor('{ip}:8080', '::1'), '[::1]:8080');
    assert.equal(listenFor('80', '127.0.0.2'), '80');
  });
});
