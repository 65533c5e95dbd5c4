import { managerUrls, type AgentEnv } from '../env.ts';
import type { Logger } from '../log.ts';
import { RAW, errorReply, reply } from '../http.ts';
import { startOnce, type AgentRole, type RoleGate } from '../role.ts';
import { createFileHandler, type ServedStats } from './serve.ts';
import { FileStore } from './store.ts';
import { VodWorker } from './worker.ts';
import type { AgentTls } from '../tls.ts';

/**
 * The vod and vod-source roles: the file directory (a source's SAN mount) with its RPC methods and HTTP routes, and
 * on a VOD server the worker that takes its distribution tasks. The REST routes are the RPC methods over HTTP.
 */
export function vodRole(env: AgentEnv, log: Logger, gate: RoleGate, tls?: Pick<AgentTls, 'managerDispatcher' | 'peerCa'>, managerUrl: () => string = () => managerUrls(env.OCDN_MANAGER_URL)[0]!): AgentRole {
  const files = new FileStore({ dir: env.OCDN_FILES_DIR, capacityBytes: env.OCDN_FILES_CAPACITY_BYTES });
  const started = startOnce(() => files.start(), (err) => `file directory ${env.OCDN_FILES_DIR} unusable: ${err.message}`);
  const store = async () => {
    gate.require('vod', 'vod-source');
    await started();
    return files;
  };
  const worker = new VodWorker({
    store: files,
    managerUrl,
    managerDispatcher: tls?.managerDispatcher,
    peerCa: tls?.peerCa,
    token: env.OCDN_NODE_TOKEN,
    log: log.child({ component: 'vod-worker' }),
    pollMs: env.OCDN_VOD_POLL_MS,
    perSourceConcurrency: env.OCDN_VOD_DOWNLOAD_CONCURRENCY,
    bandwidthBps: env.OCDN_VOD_BANDWIDTH_BPS,
    durable: env.OCDN_VOD_FSYNC,
  });
  let workerStarted = false;
  const served: ServedStats = {};
  const serveFile = createFileHandler({ store: files, token: env.OCDN_NODE_TOKEN, log, stats: served });

  return {
    rpc(rpc) {
      rpc.register('vod.files', async () => ({ items: await (await store()).list() }));
      rpc.register('vod.df', async () => (await store()).df());
      rpc.register('vod.deleteFile', async (p) => (await store()).remove(p.name));
      rpc.register('vod.tasksChanged', async () => {
        if (workerStarted) worker.kick();
        return { accepted: workerStarted };
      });
    },
    routes(http, rpc) {
      http.add('GET', '/files', () => rpc.dispatch('vod.files', {}));
      http.add('GET', '/df', () => rpc.dispatch('vod.df', {}));
      http.add('DELETE', '/files/:name', async ({ params }) => {
        const r = (await rpc.dispatch('vod.deleteFile', { name: params.name })) as { name: string; deleted: boolean };
        return r.deleted ? reply(204) : errorReply(404, 'not_found', `no file ${r.name}`);
      });
      http.add('GET', '/stats', () => ({ served }));
    },
    publicRoutes(http) {
      // The bytes go straight to the socket (sendfile-like reads into fixed buffers); the handler checks the node
      // token or the manager's signature itself, since peers download with a signed URL. The name is passed as
      // sent (still escaped): the handler decodes and checks it.
      http.add(['GET', 'HEAD'], '/files/:name', async ({ req, url }, res) => {
        await store();
        await serveFile(req, res, url.pathname.slice('/files/'.length), url.searchParams);
        return RAW;
      });
    },
    welcome() {
      if (gate.has('vod', 'vod-source')) void store().catch((err: unknown) => log.error({ err: (err as Error).message }, 'vod role unavailable'));
      if (gate.has('vod') && !workerStarted) {
        workerStarted = true;
        void store().then(
          () => worker.start(),
          () => {},
        );
      }
    },
    async stop() {
      await worker.stop();
    },
  };
}
