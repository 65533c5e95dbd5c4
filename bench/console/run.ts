// bench/console: the console's budget. Its JavaScript gzipped (floor: 250 KB); the first page interactive on
// loopback (navigation to a usable sign-in form, and sign-in to a drawn Overview; floor: 1 s), in Debian's
// Chromium with an empty cache; and the manager's idle CPU and memory (embedded database, as `npm start` runs it)
// with no console and then with ten consoles open on the Overview, each holding its live-events stream.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../test/support/browser.ts';
import { findProgram } from '../../test/support/programs.ts';
import { ROOT, startManagerProcess, tempDir } from '../../test/support/procs.ts';
import { percentile, row, treeCpuSeconds, treeRssMiB } from '../lib.ts';

const ROUNDS = Number(process.env.BENCH_CONSOLE_ROUNDS ?? 15);
const IDLE_S = Number(process.env.BENCH_CONSOLE_IDLE_S ?? 60);

function bundle(): { js: number; css: number } {
  const dir = join(ROOT, 'apps/console/dist/assets');
  let js = 0;
  let css = 0;
  for (const f of readdirSync(dir)) {
    const gz = gzipSync(readFileSync(join(dir, f)), { level: 9 }).length;
    if (f.endsWith('.js')) js += gz;
    else if (f.endsWith('.css')) css += gz;
  }
  return { js, css };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const chromiumPath = findProgram('chromium');
  if (!chromiumPath) throw new Error('chromium is missing (apt-get install chromium)');
  const size = bundle();
  console.log('bench/console');
  console.log(row(['measure', 'figure', 'floor', ''], 30));
  console.log(row(['JavaScript, gzipped', `${(size.js / 1024).toFixed(1)} KB`, '≤ 250 KB', size.js <= 250 * 1024 ? 'met' : 'NOT met'], 30));
  console.log(row(['CSS, gzipped', `${(size.css / 1024).toFixed(1)} KB`, '', ''], 30));

  const dir = tempDir('bench-console');
  const m = await startManagerProcess({ OCDN_DATA_DIR: join(dir.path, 'data'), OCDN_LOG_LEVEL: 'warn' });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium(chromiumPath);
    const toForm: number[] = [];
    const toOverview: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } }); // empty cache
      const page = await context.newPage();
      await page.goto(m.url);
      await page.getByLabel('API token').waitFor();
      // From the browser's navigation start to the form's being there, by the page's own clock.
      toForm.push(await page.evaluate(() => performance.now()));
      if (i === 0) console.log('  (first navigation:', JSON.stringify(await page.evaluate(() => {
          // Runs in the page (the browser's Navigation Timing); typed loosely, this file is compiled without the DOM library.
          const n = (performance as unknown as { getEntriesByType(t: string): Record<string, number>[] }).getEntriesByType('navigation')[0]!;
          return { responseEnd: Math.round(n.responseEnd!), domInteractive: Math.round(n.domInteractive!), loadEventEnd: Math.round(n.loadEventEnd!) };
        })), ')');
      await page.getByLabel('API token').fill(m.adminToken);
      const t1 = await page.evaluate(() => performance.now());
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('region', { name: 'Agents connected' }).waitFor();
      toOverview.push((await page.evaluate(() => performance.now())) - t1);
      await context.close();
    }
    const p = (xs: number[], q: number) => `${percentile(xs, q).toFixed(0)} ms`;
    console.log(row(['first page: usable sign-in form', `p50 ${p(toForm, 50)}, p95 ${p(toForm, 95)}`, '≤ 1 s', percentile(toForm, 95) <= 1000 ? 'met' : 'NOT met'], 30));
    console.log(row(['sign-in to a drawn Overview', `p50 ${p(toOverview, 50)}, p95 ${p(toOverview, 95)}`, '(report)', ''], 30));

    const pid = m.proc.child.pid!;
    const idle = async (label: string) => {
      await sleep(5000); // settle
      const c0 = treeCpuSeconds(pid);
      const t0 = Date.now();
      await sleep(IDLE_S * 1000);
      const cpu = treeCpuSeconds(pid) - c0;
      const secs = (Date.now() - t0) / 1000;
      console.log(row([`manager idle, ${label}`, `${((100 * cpu) / secs).toFixed(2)} % of a core, ${treeRssMiB(pid).toFixed(0)} MiB RSS`, '(report)', ''], 30));
    };
    await idle('no console');
    const contexts = [];
    for (let i = 0; i < 10; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(m.url);
      await page.getByLabel('API token').fill(m.adminToken);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('region', { name: 'Agents connected' }).waitFor();
      contexts.push(context);
    }
    await idle('ten consoles open');
    for (const c of contexts) await c.close();
  } finally {
    await browser?.close();
    await m.proc.stop();
    dir.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
