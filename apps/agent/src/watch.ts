import type { ServerResponse } from 'node:http';
import type { NodeHeartbeatResponse } from '@ocdn/protocol';
import { RAW, errorReply, type RouteRequest } from './http.ts';

/** Bytes a watcher may leave unread before its stream is ended (a manager that stopped reading). */
const UNREAD_LIMIT = 64 * 1024;

/**
 * `GET /heartbeat/watch?everyMs=N`: a heartbeat stream, one JSON line now and one every N ms (100–60,000, default
 * 1,000), for as long as the caller reads it. The manager's health watch holds one open to each agent: the moment
 * this process dies its kernel closes the connection, and the manager knows without waiting for a missed beat.
 */
export function watchHeartbeat({ req, url }: RouteRequest, res: ServerResponse, heartbeat: () => NodeHeartbeatResponse): unknown {
  const given = url.searchParams.get('everyMs');
  const everyMs = given === null ? 1_000 : Number(given);
  if (!Number.isInteger(everyMs) || everyMs < 100 || everyMs > 60_000) {
    return errorReply(400, 'bad_request', 'everyMs must be a whole number of milliseconds from 100 to 60000', { field: 'everyMs' });
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  if (req.method === 'HEAD') {
    res.end();
    return RAW;
  }
  req.socket.setNoDelay(true);
  const beat = () => {
    if (res.writableLength > UNREAD_LIMIT) {
      res.destroy();
      return;
    }
    res.write(`${JSON.stringify(heartbeat())}\n`);
  };
  beat();
  const timer = setInterval(beat, everyMs);
  res.once('close', () => clearInterval(timer));
  return RAW;
}
