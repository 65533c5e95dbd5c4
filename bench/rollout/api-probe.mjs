// An operator's view of the manager's API during a rollout, from a process of the benchmark's at a raised priority
// (probes.ts says why a process, and why raised). Asks `GET path` one request at a time, a new
// one `everyMs` after the last was sent (at once if its answer took longer), over one kept-alive connection, and keeps
// each round trip in ms.
import http from 'node:http';
import { once } from 'node:events';
import { raiseThisThread } from './raise.mjs';

const [{ url, path, token, everyMs, nice }] = await once(process, 'message');
const raised = raiseThisThread(nice);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const times = [];
const failures = [];
let stopping = false;

function get() {
  return new Promise((resolve) => {
    const req = http.get(new URL(path, url), { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? null : `HTTP ${res.statusCode}`));
    });
    req.on('error', (err) => resolve(err.message));
  });
}

const loop = (async () => {
  while (!stopping) {
    const at = performance.now();
    const failed = await get();
    if (failed) failures.push(failed);
    else times.push(performance.now() - at);
    const wait = everyMs - (performance.now() - at);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
})();

process.on('message', async () => {
  stopping = true;
  await loop;
  agent.destroy();
  process.send({ times, failures, raised }, () => process.disconnect());
});
