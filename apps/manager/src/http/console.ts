import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import type { Logger } from '../log.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** The console's built files (apps/console/dist), found from source (src/http) or from the bundle (dist). */
export function consoleDir(override?: string): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = override ? [resolve(override)] : [join(here, '../../../console/dist'), join(here, '../../console/dist')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? null;
}

/** The console loads nothing from elsewhere and is never framed by another site. */
const SECURITY = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

interface Asset {
  body: Uint8Array;
  type: string;
  /** Vite names built assets by their content: cached for good; index.html is checked every time. */
  immutable: boolean;
}

/**
 * Serves the operator console at `/`: the built files, read once at start, and index.html for every other path
 * outside the API (the console routes in the browser). Without a build it says how to make one.
 */
export function consoleRoutes(app: Hono<any>, log: Logger, dirOverride?: string): void {
  const dir = consoleDir(dirOverride);
  const files = new Map<string, Asset>();
  if (dir) {
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else files.set(`/${relative(dir, p).split(sep).join('/')}`, { body: new Uint8Array(readFileSync(p)), type: TYPES[extname(p)] ?? 'application/octet-stream', immutable: p.includes(`${sep}assets${sep}`) });
      }
    };
    walk(dir);
  } else {
    log.warn('the console is not built (npm run build): / answers with how to build it');
  }
  const index = files.get('/index.html');
  app.get('*', async (c, next) => {
    const path = c.req.path;
    if (path.startsWith('/api/') || path === '/openapi.json' || path.startsWith('/docs') || path === '/metrics' || path === '/healthz') return next();
    const asset = files.get(path);
    if (asset) return c.body(asset.body as never, 200, { ...SECURITY, 'content-type': asset.type, 'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache' });
    if (path.startsWith('/assets/')) return c.text('no such asset', 404);
    if (!index) return c.text('The console is not built: run `npm run build` (npm start does it), then reload.\n', 503);
    return c.body(index.body as never, 200, { ...SECURITY, 'content-type': index.type, 'cache-control': 'no-cache' });
  });
}
