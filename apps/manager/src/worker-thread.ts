import { Worker, type TransferListItem } from 'node:worker_threads';

/**
 * Starts one of the manager's threads: from the sources (tsx) `<name>.ts` beside `here`, from the bundle
 * `dist/<bundle>.js` beside dist/main.js. It gets `data` (with `transfer`'s ports moved to it) and an environment of
 * PATH alone (chrt is found; no secret is seen that is not in `data`).
 */
export function startWorkerThread(here: string, name: string, bundle: string, data: unknown, transfer: TransferListItem[] = []): Worker {
  const fromSources = here.endsWith('.ts');
  const file = new URL(fromSources ? `./${name}.ts` : `./${bundle}.js`, here);
  const env = { PATH: process.env.PATH ?? '' };
  // A worker does not inherit the parent's module loader hooks: from the sources, it registers tsx's first.
  return fromSources
    ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); })`, { eval: true, workerData: data, transferList: transfer, env })
    : new Worker(file, { workerData: data, transferList: transfer, env });
}
