import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { getCookie } from 'hono/cookie';
import { bearerToken, SESSION_COOKIE } from '@ocdn/protocol';
import type { ManagerContext } from '../context.ts';
import { secured } from '../http/access.ts';
import type { AppEnv } from '../http/app-env.ts';
import { ErrorBody } from '../http/errors.ts';
import type { LiveEvent, LiveEvents } from './live.ts';


const err = (description: string) => ({ description, content: { 'application/json': { schema: ErrorBody } } });

const frame = (e: LiveEvent, id: string) => `id: ${id}\nevent: ${e.name}\ndata: ${e.data}\n\n`;

/** `GET /api/v1/events`: Server-Sent Events for the console (API.md "Live events"). */
export function eventRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>, live: LiveEvents): void {
  // A comment this often keeps proxies from closing an idle stream, and the caller's token is checked again.
  const keepaliveMs = ctx.env.OCDN_EVENTS_KEEPALIVE_S * 1000;
  app.openapi(
    secured(
      'viewer',
      createRoute({
        method: 'get',
        path: '/api/v1/events',
        tags: ['events'],
        summary: 'Live changes of nodes, domains, pipelines, VOD tasks and forward zones (Server-Sent Events)',
        description:
          'Events `node`, `domain`, `pipeline`, `task`, `zone` carry the item as its GET shows it; `removed` `{kind, id}` says one is gone; `reset` asks the client to read the lists again (it reconnected from too long ago, or to another replica). Resume with `Last-Event-ID`. A comment every 15 s keeps the stream open.',
        request: { headers: z.object({ 'last-event-id': z.string().max(64).regex(/^[\x20-\x7e]*$/, 'printable ASCII').optional() }) },
        responses: {
          200: { description: 'the event stream', content: { 'text/event-stream': { schema: z.string() } } },
          401: err('missing, unknown, revoked or expired token'),
        },
      }),
    ),
    (c) => {
      const lastEventId = c.req.header('last-event-id');
      const authorization = c.req.header('authorization');
      const cookie = getCookie(c, SESSION_COOKIE);
      // The stream outlives the request's check: the caller is checked again at each keep-alive, so a revoked token
      // or an ended session stops its streams at the next keep-alive.
      const stillAllowed = async () => {
        if (authorization !== undefined) {
          const token = bearerToken(authorization);
          return Boolean(token && (await ctx.access.tokens.authenticate(token)));
        }
        return Boolean(cookie && (await ctx.access.sessions.authenticate(cookie)));
      };
      const encoder = new TextEncoder();
      let end = () => {};
      const stream = new ReadableStream<Uint8Array>(
        {
          start(controller) {
            let closed = false;
            let timer: NodeJS.Timeout | undefined;
            let sub: ReturnType<LiveEvents['subscribe']> | undefined;
            end = () => {
              if (closed) return;
              closed = true;
              clearInterval(timer);
              sub?.unsubscribe();
            };
            const write = (text: string): boolean => {
              if (closed) return false;
              // desiredSize: the high-water mark less what the socket has not taken yet.
              if ((controller.desiredSize ?? 0) <= 0) {
                end();
                controller.error(new Error('client too slow: dropped'));
                return false;
              }
              controller.enqueue(encoder.encode(text));
              return true;
            };
            write(`retry: 2000\n: ocdn live events\n\n`);
            sub = live.subscribe({ send: (e, id) => write(frame(e, id)) }, lastEventId);
            if (closed) sub.unsubscribe();
            if (sub.replay === 'reset') write('event: reset\ndata: {}\n\n');
            timer = setInterval(() => {
              stillAllowed().then(
                (ok) => {
                  if (closed) return;
                  if (ok) return void write(': keep-alive\n\n');
                  write('event: reset\ndata: {"reason":"signed out"}\n\n');
                  end();
                  controller.close();
                },
                () => write(': keep-alive\n\n'),
              );
            }, keepaliveMs);
            timer.unref();
          },
          cancel() {
            end();
          },
        },
        // A client this far behind (bytes its socket has not taken) is dropped; it reconnects and resumes or resets.
        { highWaterMark: ctx.env.OCDN_EVENTS_CLIENT_BUFFER_BYTES, size: (chunk) => chunk.byteLength },
      );
      return new Response(stream, {
        status: 200,
        headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' },
      }) as never;
    },
  );
}
