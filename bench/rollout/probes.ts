// The benchmark's measuring threads, each started on a thread of its own at a raised priority (raise.mjs).
import { Worker } from 'node:worker_threads';

interface Probe<T> {
  stop(): Promise<T>;
}

function start<T>(file: string, workerData: unknown): Probe<T> {
  const worker = new Worker(new URL(file, import.meta.url), { workerData });
  return {
    stop: () =>
      new Promise((resolve) => {
        worker.once('message', resolve);
        worker.postMessage('stop');
      }),
  };
}

/** A resolver asking the built-in DNS for its zone's SOA every 20 ms (dns-probe.mjs); stop() gives the round trips in ms. */
export const dnsProbe = (port: number): Probe<{ times: number[]; raised: string | null }> => start('./dns-probe.mjs', { port, everyMs: 20, nice: -15 });

/**
 * An operator's client asking `GET path` of the manager's API every 100 ms, one at a time (api-probe.mjs); stop()
 * gives the round trips in ms and the requests that failed.
 */
export const apiProbe = (url: string, path: string, token: string): Probe<{ times: number[]; failures: string[]; raised: string | null }> =>
  start('./api-probe.mjs', { url, path, token, everyMs: 100, nice: -15 });
