// The console in real Chromium (Debian's chromium, driven by playwright-core) against the built manager, a real
// agent and nginx: sign in, register a node through the form and watch it turn normal, add a domain and watch it
// reach complete, kill the agent and watch fault appear — all without a reload (the waits are shorter than the
// console's 30 s refetch, so only live events can satisfy them). Elements are found by role and accessible name.
// Screenshots of every page at 1280 px and at phone width go to test-results/console/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { startNginx, type NginxInstance } from '../support/nginx.ts';
import { Proc, ROOT, freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle } from '../support/procs.ts';
import { requireProgram } from '../support/programs.ts';
import { waitFor } from '../support/wait.ts';

const SHOTS = join(ROOT, 'test-results/console');
const LIVE_MS = 20_000; // below the console's 30 s refetch: only live events make these in time

describe('operator console in Chromium', () => {
  const dir = tempDir('e2e-console');
  let tdb: TestDatabase | undefined;
  let m: ManagerHandle | undefined;
  let browser: Browser | undefined;
  let nginx: NginxInstance | undefined;
  let agent: Proc | undefined;
  const extra: { agent: Proc; nginx: NginxInstance }[] = [];
  let nginxPath: string | null = null;
  let chromiumPath: string | null = null;
  const errors: string[] = [];

  before(async (t) => {
    chromiumPath = requireProgram(t, 'chromium');
    nginxPath = requireProgram(t, 'nginx');
    if (!chromiumPath || !nginxPath) return;
    if (process.env.TEST_DATABASE_URL) tdb = await createTestDatabase('postgres');
    // nginx listens on each node's own address and a free port, never on port 80 of every address.
    const cdnListen = `{ip}:${await freePort()}`;
    m = await startManagerProcess({ ...(tdb?.url ? { DATABASE_URL: tdb.url } : { OCDN_DATA_DIR: join(dir.path, 'data') }), OCDN_CDN_LISTEN: cdnListen });
    browser = await launchChromium(chromiumPath);
    mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await agent?.stop();
    nginx?.stop();
    for (const e of extra) {
      await e.agent.stop();
      e.nginx.stop();
    }
    await m?.proc.stop();
    await tdb?.cleanup();
    dir.remove();
  });

  const open = async (width = 1280): Promise<Page> => {
    const context = await browser!.newContext({ viewport: { width, height: width > 800 ? 800 : 844 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    return page;
  };
  /** A cdn node of the test's own, registered through the API, with its agent and nginx, normal. */
  const edge = async (name: string, ip: string) => {
    const agentPort = await freePort(ip);
    const r = await m!.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name, ip, roles: ['cdn'], agentPort }) });
    const n = startNginx(nginxPath!, join(dir.path, `nginx-${name}`));
    extra.push({ nginx: n, agent: startAgentProcess(m!.url, r.token, ip, agentPort, n.agentEnv) });
    await waitFor(`${name} normal`, async () => (await m!.json(`/api/v1/nodes/${r.node.id}`)).status === 'normal');
    return r.node.id as string;
  };
  const signIn = async (page: Page, token: string) => {
    await page.goto(m!.url);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  };
  const go = (page: Page, link: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true }).click();
  const rowText = (page: Page, table: string, name: string) => page.getByRole('table', { name: table, exact: true }).getByRole('row').filter({ hasText: name }).first().textContent({ timeout: 2000 });
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = LIVE_MS) => waitFor(what, async () => (await check().catch(() => false)) || undefined, { timeoutMs, intervalMs: 100 });

  it('signs in, registers a node, adds a domain, and shows fault — live', async (t) => {
    if (!browser) return t.skip('chromium or nginx missing');
    const page = await open();
    await signIn(page, m!.adminToken);

    // Register a node through the form; the token is shown once, with the command to run.
    await go(page, 'Nodes');
    await page.getByRole('button', { name: 'Register node' }).click();
    const ip = '127.0.0.81';
    const agentPort = await freePort(ip);
    await page.getByLabel('Name', { exact: true }).fill('console-edge');
    await page.getByLabel('IP', { exact: true }).fill(ip);
    await page.getByLabel('Agent port').fill(String(agentPort));
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    const shown = page.getByRole('status').filter({ hasText: 'Node token of console-edge' });
    const token = (await shown.locator('code').first().textContent())!.trim();
    assert.match(token, /\S{16,}/);
    assert.match((await shown.textContent())!, /OCDN_NODE_TOKEN=/);
    nginx = startNginx(nginxPath!, join(dir.path, 'nginx'));
    agent = startAgentProcess(m!.url, token, ip, agentPort, { ...nginx.agentEnv, OCDN_RECONNECT_MAX_MS: '1000' });
    await until('the node to show normal', async () => /normal/.test((await rowText(page, 'Nodes', 'console-edge')) ?? ''));
    await shoot(page, 'nodes');

    // Add a domain; its page follows it to complete, its pipeline's steps succeed.
    await go(page, 'Domains');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await page.getByLabel('Domain', { exact: true }).fill('shop.console.test');
    await page.getByLabel('Origins').fill('http://127.0.0.1:9');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('heading', { name: 'shop.console.test' }).waitFor();
    await until('the domain to be complete', async () => /complete/.test((await page.locator('dl.facts').textContent()) ?? ''), 40_000);
    await until('ADD_DOMAIN to succeed', async () => /succeeded/.test((await rowText(page, 'Pipelines', 'ADD_DOMAIN')) ?? ''));
    await page.getByRole('table', { name: 'Pipelines' }).getByRole('button', { name: /steps/ }).first().click();
    const steps = page.getByRole('list', { name: /Steps of ADD_DOMAIN/ });
    assert.match((await steps.textContent())!, /OCDN_SYNC_CONF/);
    assert.doesNotMatch((await steps.textContent())!, /failed/);
    assert.match((await rowText(page, 'Domain nodes', 'console-edge'))!, /complete/);
    await shoot(page, 'domain');

    // The agent dies: fault appears by itself.
    await go(page, 'Nodes');
    await agent.kill9();
    await until('the node to show fault', async () => /fault/.test((await rowText(page, 'Nodes', 'console-edge')) ?? ''));

    for (const [link, name] of [['Overview', 'overview'], ['Domains', 'domains'], ['Pipelines', 'pipelines'], ['DNS', 'dns'], ['VOD', 'vod'], ['Audit', 'audit'], ['Tokens', 'tokens'], ['Nodes', 'nodes']] as const) {
      await go(page, link);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await shoot(page, name);
    }
    assert.deepEqual(errors, []);
  });

  it('shows a forwarding conflict next to the form, naming the other zone', async (t) => {
    if (!browser) return t.skip('chromium or nginx missing');
    const fg = await m!.json('/api/v1/forwarder-groups', { method: 'POST', body: JSON.stringify({ name: 'console-upstream', addresses: ['127.0.0.1'] }) });
    await m!.json('/api/v1/time-schedulers', { method: 'POST', body: JSON.stringify({ name: 'console-nights', timeType: 'daily', timePeriods: [{ beginTime: '22:00', endTime: '6:00' }] }) });
    await m!.json('/api/v1/views/default/forward-zones', { method: 'POST', body: JSON.stringify({ forwardItemType: 'domain', domain: 'corp.console.test', forwarderGroupIds: [fg.id], forwardStyle: 'first' }) });
    const page = await open();
    await signIn(page, m!.adminToken);
    await go(page, 'Forwarding');
    await page.getByRole('button', { name: 'Add forward zone' }).click();
    const form = page.getByRole('region', { name: 'Add forward zone' });
    await form.getByLabel('Domain', { exact: true }).fill('www.corp.console.test');
    await form.getByLabel('Forward style').selectOption('only');
    await form.getByRole('checkbox', { name: 'console-upstream' }).check();
    await form.getByRole('button', { name: 'Create zone' }).click();
    const alert = form.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent())!, /conflict/);
    assert.match((await form.textContent())!, /Conflicts with the forward zone for corp\.console\.test/);
    await until('the zone table to list the zone', async () => /corp\.console\.test/.test((await page.getByRole('table', { name: 'Forward zones' }).textContent()) ?? ''), 5000);
    await shoot(page, 'forwarding');
  });

  it('shows an API error with its message', async (t) => {
    if (!browser) return t.skip('chromium or nginx missing');
    const page = await open();
    await signIn(page, m!.adminToken);
    await go(page, 'Domains');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await page.getByLabel('Domain', { exact: true }).fill('bad.console.test');
    await page.getByLabel('Origins').fill('ftp://127.0.0.1');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent())!, /origins/);
  });

  it('a viewer sees no button that changes anything', async (t) => {
    if (!browser) return t.skip('chromium or nginx missing');
    const viewer = await m!.json('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'console-viewer', role: 'viewer' }) });
    const nodeId = await edge('viewer-edge', '127.0.0.82');
    await m!.json('/api/v1/domains', { method: 'POST', body: JSON.stringify({ domain: 'viewer.console.test', origins: ['http://127.0.0.1:9'], nodeIds: [nodeId] }) });
    const page = await open(390);
    await signIn(page, viewer.secret);
    const writes = /^(Register node|Add domain|Delete|Retry|Edit|Rotate token|Add forward zone|Add forwarder group|Add domain group|Add time scheduler|Add view|Create token|Revoke|Change origins|Join a node|Delete domain)/;
    for (const link of ['Overview', 'Nodes', 'Domains', 'Pipelines', 'DNS', 'Forwarding', 'VOD', 'Audit', 'Tokens']) {
      await go(page, link);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.waitForLoadState('networkidle').catch(() => {});
      const names = await page.getByRole('button').allTextContents();
      assert.deepEqual(names.filter((n) => writes.test(n.trim())), [], `write buttons on ${link}`);
      await shoot(page, `${link.toLowerCase()}`, 390);
    }
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Domains' }).click();
    await page.getByRole('link', { name: 'viewer.console.test' }).click();
    await page.getByRole('heading', { name: 'viewer.console.test' }).waitFor();
    const names = await page.getByRole('button').allTextContents();
    assert.deepEqual(names.filter((n) => writes.test(n.trim())), []);
    await shoot(page, 'domain', 390);
  });
});

async function shoot(page: Page, name: string, width = page.viewportSize()?.width ?? 1280): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
}
