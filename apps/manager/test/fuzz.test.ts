// Property-based fuzzing of every admin route in the OpenAPI document. From a valid example of each route's body
// (the table below) and the document's own schema, it generates bad requests — wrong types, missing and unknown
// fields, empty, oversized and pattern-breaking strings (control characters, NUL, white space at either end),
// deep nesting, numbers out of range, bad query values and bad path ids — and asserts that every answer is a 4xx
// with API.md's error shape (a 400 naming the field it broke), never a 5xx, and that the lists read before and
// after are equal. A route added to the API without an example here fails this test.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { testBackends } from '../../../test/support/db.ts';
import { startHarness, type Harness } from './harness.ts';

type Schema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  anyOf?: Schema[];
  oneOf?: Schema[];
};
type Op = { parameters?: { name: string; in: string; required?: boolean; schema: Schema }[]; requestBody?: { content: Record<string, { schema: Schema }> } };

/** One bad request: where it breaks the contract (`field`, null when no field can be named) and how. */
interface Mutation {
  field: string | null;
  what: string;
  body?: unknown;
  rawBody?: string;
  params?: Record<string, string>;
  query?: Record<string, string>;
}

/** A valid body for every route that takes one (path ids below); the fuzzer breaks one thing at a time. */
const EXAMPLES: Record<string, unknown> = {
  'post /api/v1/nodes': { name: 'fuzz-node', ip: '127.0.9.1', roles: ['cdn'], agentPort: 9001 },
  'post /api/v1/domains': { domain: 'fuzz.example.com', origins: ['http://127.0.0.1:8080'], subDomain: 'fuzz', nodeIds: ['nod_nosuchnode1'] },
  'patch /api/v1/domains/{domain}': { origins: ['http://127.0.0.1:8080'] },
  'post /api/v1/domains/{domain}/nodes': { nodeId: 'nod_nosuchnode1' },
  'post /api/v1/views': { name: 'fuzzview', matchClients: ['127.0.0.0/8'], comment: 'c' },
  'patch /api/v1/views/{view}': { matchClients: ['any'], comment: 'c' },
  'post /api/v1/forwarder-groups': { name: 'fuzz fg', addresses: ['127.0.0.1:5300'], comment: 'c' },
  'patch /api/v1/forwarder-groups/{id}': { addresses: ['127.0.0.1'], comment: 'c' },
  'post /api/v1/domain-groups': { name: 'fuzz dg', domains: ['fuzz-group.test'], comment: 'c' },
  'patch /api/v1/domain-groups/{id}': { domains: ['fuzz-group.test'], comment: 'c' },
  'post /api/v1/time-schedulers': { name: 'fuzz ts', timeType: 'daily', timePeriods: [{ beginTime: '1:00', endTime: '2:00' }], timezone: 'UTC', comment: 'c' },
  'patch /api/v1/time-schedulers/{id}': { timeType: 'daily', timePeriods: [{ beginTime: '1:00', endTime: '2:00' }], comment: 'c' },
  'post /api/v1/views/{view}/forward-zones': { forwardItemType: 'domain', domain: 'fuzz-zone.test', domainGroupIds: null, forwarderGroupIds: ['fwg_nosuchgroup'], timeScheduler: null, forwardStyle: 'only', comment: 'c' },
  'patch /api/v1/views/{view}/forward-zones/{id}': { forwarderGroupIds: ['fwg_nosuchgroup'], timeScheduler: null, comment: 'c' },
  // expiresAt in the past: the valid example itself is refused, so the fuzz changes nothing
  'post /api/v1/tokens': { name: 'fuzz token', role: 'viewer', expiresAt: '2001-01-01T00:00:00Z' },
  'post /api/v1/session': { token: 'ocdn_tok_0000000000000000.nosuchsecretnosuchsecretnosuchsecretnosu' },
};

/** The list routes whose answers make up "the state". */
const LISTS = ['/api/v1/tokens', '/api/v1/nodes', '/api/v1/domains', '/api/v1/pipelines', '/api/v1/dns/records', '/api/v1/views', '/api/v1/forwarder-groups', '/api/v1/domain-groups', '/api/v1/time-schedulers', '/api/v1/views/default/forward-zones', '/api/v1/views/fuzzfix/forward-zones', '/api/v1/vod/files', '/api/v1/vod/tasks'];

const RUNS_PER_ROUTE = Number(process.env.OCDN_FUZZ_RUNS ?? 100);
const CONTROL = ['\u0000', '\u0001', '\u0007', '\b', '\t', '\n', '\r', '\u001b', '\u007f'];

const types = (s: Schema) => (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []);
const deep = (n: number): unknown => (n === 0 ? 'x' : [deep(n - 1)]);

describe('admin API fuzz: every route, generated bad input', () => {
  for (const backend of testBackends()) {
    describe(`on ${backend}`, () => {
      let h: Harness;
      let doc: { paths: Record<string, Record<string, Op>>; components: { schemas: Record<string, Schema> } };
      const ids: Record<string, string> = {};

      const resolve = (s: Schema): Schema => (s.$ref ? resolve(doc.components.schemas[s.$ref.split('/').pop()!]!) : s);
      /** Whether a string value is allowed by a schema (a union allows it when any branch does). */
      const allows = (raw: Schema, v: unknown): boolean => {
        const s = resolve(raw);
        const alts = s.anyOf ?? s.oneOf;
        if (alts) return alts.some((a) => allows(a, v));
        if (v === null) return types(s).includes('null');
        if (typeof v !== 'string') return false;
        if (!types(s).includes('string')) return false;
        if (s.enum) return s.enum.includes(v);
        if (s.minLength !== undefined && v.length < s.minLength) return false;
        if (s.maxLength !== undefined && v.length > s.maxLength) return false;
        return s.pattern === undefined || new RegExp(s.pattern, 'u').test(v);
      };
      /** Every string branch of a schema has a rule beyond its type (pattern, enum or format): no free-form field. */
      const stringRules = (raw: Schema, where: string, out: string[]) => {
        const s = resolve(raw);
        for (const a of s.anyOf ?? s.oneOf ?? []) stringRules(a, where, out);
        if (types(s).includes('string') && !s.enum && (s.pattern === undefined || s.maxLength === undefined)) out.push(where);
        if (s.items) stringRules(s.items, `${where}[]`, out);
        for (const [k, p] of Object.entries(s.properties ?? {})) stringRules(p, `${where}.${k}`, out);
      };

      /** Strings the schema refuses: control characters, NUL, white space, sizes, traversal, random binary. */
      const badStrings = (s: Schema, base: string): fc.Arbitrary<string> =>
        fc
          .oneof(
            fc.constantFrom(...CONTROL).map((ch) => `${base}${ch}`),
            fc.constantFrom(...CONTROL).map((ch) => `${ch}${base}`),
            fc.constantFrom(' ', '\u00a0', '\t', '\n').map((ws) => `${ws}${base}${ws}`),
            fc.tuple(fc.nat(base.length), fc.constantFrom(...CONTROL, '\u0000\u0000', '\u2028')).map(([i, ch]) => base.slice(0, i) + ch + base.slice(i)),
            fc.constantFrom('', '\u0000', 'x'.repeat(70_000), `${base}${'y'.repeat(300)}`, '../../etc/passwd', 'a/b', '%00', '\ud800', '<script>', "' or 1=1 --"),
            fc.string({ unit: 'binary', maxLength: 40 }),
          )
          .filter((v) => !allows(s, v));

      /** Bad values for a value of schema `raw` (whose valid example is `example`). */
      const badValues = (raw: Schema, example: unknown): fc.Arbitrary<{ value: unknown; what: string }>[] => {
        const s = resolve(raw);
        const alts = s.anyOf ?? s.oneOf;
        const kinds = alts ? alts.flatMap((a) => types(resolve(a))) : types(s);
        const out: fc.Arbitrary<{ value: unknown; what: string }>[] = [];
        const c = (value: unknown, what: string) => out.push(fc.constant({ value, what }));
        // Wrong types, deep nesting.
        if (!kinds.includes('string')) c('1', 'a string');
        if (!kinds.includes('number') && !kinds.includes('integer')) c(42, 'a number');
        if (!kinds.includes('boolean')) c(true, 'a boolean');
        if (!kinds.includes('object')) c({ a: 1 }, 'an object');
        if (!kinds.includes('array')) c(deep(200), 'arrays nested 200 deep');
        if (!kinds.includes('null')) c(null, 'null');
        if (kinds.includes('string')) {
          const candidates = badStrings(s, typeof example === 'string' ? example : 'a');
          out.push(candidates.map((v) => ({ value: v, what: `the string ${JSON.stringify(v.slice(0, 40))}` })));
        }
        if (kinds.includes('integer') || kinds.includes('number')) {
          if (s.minimum !== undefined) c(s.minimum - 1, 'a number below the minimum');
          if (s.maximum !== undefined) c(s.maximum + 1, 'a number above the maximum');
          c(1e300, 'a huge number');
          if (kinds.includes('integer')) c(1.5, 'a fraction');
        }
        if (kinds.includes('array')) {
          const item = Array.isArray(example) ? example[0] : undefined;
          if ((s.minItems ?? 0) > 0) c([], 'an empty list');
          if (s.maxItems !== undefined && item !== undefined) c(Array(s.maxItems + 1).fill(item), `${s.maxItems + 1} items`);
          if (s.items && item !== undefined) {
            for (const arb of badValues(s.items, item)) out.push(arb.map(({ value, what }) => ({ value: [value], what: `item: ${what}` })));
          }
        }
        if (kinds.includes('object') && s.properties && example && typeof example === 'object') {
          for (const arb of objectMutations(s, example as Record<string, unknown>, '')) out.push(arb.map((m) => ({ value: m.body, what: m.what })));
        }
        return out;
      };

      /** Mutations of an object body: each named by the field they break. */
      const objectMutations = (s: Schema, example: Record<string, unknown>, prefix: string): fc.Arbitrary<Mutation>[] => {
        const at = (k: string) => (prefix ? `${prefix}.${k}` : k);
        const out: fc.Arbitrary<Mutation>[] = [fc.constant({ field: at('zzUnknownField'), what: 'an unknown field', body: { ...example, zzUnknownField: 1 } })];
        for (const k of s.required ?? []) {
          const { [k]: _, ...rest } = example;
          out.push(fc.constant({ field: at(k), what: `no ${k}`, body: rest }));
        }
        for (const [k, p] of Object.entries(s.properties ?? {})) {
          if (!(k in example)) continue;
          for (const arb of badValues(p, example[k])) out.push(arb.map(({ value, what }) => ({ field: at(k), what: `${k}: ${what}`, body: { ...example, [k]: value } })));
        }
        return out;
      };

      /** What was published or stored: every list, read through the API. */
      const snapshot = async () => {
        const out: Record<string, unknown> = {};
        for (const l of LISTS) {
          const r = await h.call('GET', l);
          out[l] = r.status === 200 ? r.body : r.status;
        }
        return JSON.stringify(out);
      };

      before(async () => {
        h = await startHarness(backend);
        doc = (await h.call('GET', '/openapi.json')).body;
        // Fixtures the path ids point at; no node and no domain, so nothing runs in the background.
        const post = async (path: string, body: unknown) => {
          const r = await h.call('POST', path, body);
          assert.equal(r.status, 201, `${path}: ${JSON.stringify(r.body)}`);
          return r.body;
        };
        await post('/api/v1/views', { name: 'fuzzfix', matchClients: ['127.0.5.0/24'] });
        ids.fwg = (await post('/api/v1/forwarder-groups', { name: 'fix-fg', addresses: ['127.0.0.1:5300'] })).id;
        ids.dg = (await post('/api/v1/domain-groups', { name: 'fix-dg', domains: ['fix-group.test'] })).id;
        ids.ts = (await post('/api/v1/time-schedulers', { name: 'fix-ts', timeType: 'daily', timePeriods: [{ beginTime: '1:00', endTime: '2:00' }] })).id;
        ids.zone = (await post('/api/v1/views/fuzzfix/forward-zones', { forwardItemType: 'domain', domain: 'fix.test', forwarderGroupIds: [ids.fwg], forwardStyle: 'only' })).id;
      });
      after(async () => {
        await h?.close();
      });

      const adminRoutes = () =>
        Object.entries(doc.paths)
          .filter(([p]) => p.startsWith('/api/v1/') && !p.startsWith('/api/v1/agent/'))
          .flatMap(([p, ms]) => Object.entries(ms).map(([m, op]) => ({ key: `${m} ${p}`, method: m.toUpperCase(), path: p, op })));

      /** A path id that exists (for PATCH/DELETE to reach validation of the body with a real resource). */
      const goodParams = (path: string): Record<string, string> => {
        const id = path.includes('forwarder-groups') ? ids.fwg : path.includes('domain-groups') ? ids.dg : path.includes('time-schedulers') ? ids.ts : path.includes('forward-zones') ? ids.zone : 'nod_nosuchnode1';
        return { id: id!, view: 'fuzzfix', domain: 'fuzz.example.com' };
      };
      /** Percent-encodes each parameter; a lone surrogate goes out as the invalid UTF-8 it would be, `raw:` verbatim. */
      const encode = (v: string) => {
        if (v.startsWith('raw:')) return v.slice(4);
        try {
          return encodeURIComponent(v);
        } catch {
          return encodeURIComponent(v.replace(/[\ud800-\udfff]/g, '')) + '%ED%A0%80';
        }
      };
      const url = (path: string, params: Record<string, string>, query?: Record<string, string>) =>
        path.replace(/\{(\w+)\}/g, (_, k: string) => encode(params[k]!)) + (query ? `?${new URLSearchParams(query)}` : '');

      it('the document: every admin route with a body has an example, and every string field a pattern and a length', () => {
        const routes = adminRoutes();
        assert.ok(routes.length >= 40, `${routes.length} admin routes in the document`);
        const missing = routes.filter((r) => r.op.requestBody && !(r.key in EXAMPLES)).map((r) => r.key);
        assert.deepEqual(missing, [], 'add a valid example body to EXAMPLES for each of these routes');
        const free: string[] = [];
        for (const r of routes) {
          const schema = r.op.requestBody?.content['application/json']?.schema;
          if (schema) stringRules(schema, `${r.key} body`, free);
          for (const p of r.op.parameters ?? []) stringRules(p.schema, `${r.key} ${p.in} ${p.name}`, free);
        }
        assert.deepEqual(free, [], 'request strings without a pattern and a maximum length accept anything');
      });

      it('every bad request is a 4xx with the error shape (a 400 names the field), none a 5xx, and nothing changes', async () => {
        const before = await snapshot();
        let requests = 0;
        let fuzzed = 0;
        for (const r of adminRoutes()) {
          const params = goodParams(r.path);
          const arbs: fc.Arbitrary<Mutation>[] = [];
          // Bad path ids: each parameter broken alone.
          for (const p of (r.op.parameters ?? []).filter((q) => q.in === 'path')) {
            arbs.push(badStrings(resolve(p.schema), params[p.name]!).filter((v) => v !== '' && v !== '.' && v !== '..').map((v) => ({ field: p.name, what: `path ${p.name}: ${JSON.stringify(v.slice(0, 40))}`, params: { ...params, [p.name]: v } })));
            arbs.push(fc.constantFrom('raw:%FF', 'raw:%', 'raw:%zz', 'raw:a%00b', 'raw:%C0%AE%C0%AE').map((v) => ({ field: null, what: `path ${p.name}: ${v}`, params: { ...params, [p.name]: v } })));
            arbs.push(fc.constant({ field: null, what: `path ${p.name}: unknown id`, params: { ...params, [p.name]: p.name === 'domain' ? 'no-such.example.org' : 'zz_no_such_id' } }));
          }
          // Bad query values and unknown query keys.
          const query = (r.op.parameters ?? []).filter((q) => q.in === 'query');
          if (query.length) {
            arbs.push(fc.constant({ field: 'zzUnknown', what: 'an unknown query key', query: { zzUnknown: '1' } }));
            for (const q of query) {
              const s = resolve(q.schema);
              const bad = fc.oneof(
                fc.constantFrom('', '-1', '0', '1.5', 'abc', '99999999', '\u0000', ' 1', 'x'.repeat(300), 'NaN'),
                fc.string({ unit: 'binary', maxLength: 20 }),
              );
              const refused = (v: string) => (types(s).includes('integer') ? !/^[0-9]+$/.test(v) || Number(v) < (s.minimum ?? 0) || Number(v) > (s.maximum ?? Infinity) : !allows(s, v));
              arbs.push(bad.filter(refused).map((v) => ({ field: q.name, what: `query ${q.name}=${JSON.stringify(v)}`, query: { [q.name]: v } })));
            }
          }
          // Bad bodies.
          const schema = r.op.requestBody?.content['application/json']?.schema;
          if (schema) {
            const example = EXAMPLES[r.key] as Record<string, unknown>;
            arbs.push(...objectMutations(resolve(schema), example, ''));
            for (const [rawBody, what] of [['', 'an empty body'], ['{', 'broken JSON'], ['[]', 'a list'], ['"x"', 'a string'], ['null', 'null'], ['{"a":'.repeat(500) + '1' + '}'.repeat(500), 'objects nested 500 deep']] as const) {
              arbs.push(fc.constant({ field: null, what, rawBody }));
            }
          }
          if (arbs.length === 0) continue;
          fuzzed++;
          await fc.assert(
            fc.asyncProperty(fc.oneof(...arbs), async (m) => {
              requests++;
              if (process.env.OCDN_FUZZ_DEBUG) process.stderr.write(`${r.key} ${m.what.slice(0, 60)}\n`);
              const path = url(r.path, m.params ?? params, m.query);
              const res = await h.call(r.method, path, m.rawBody ?? m.body);
              const ctx = `${r.method} ${path.slice(0, 200)} with ${m.what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
              assert.ok(res.status >= 400 && res.status < 500, ctx);
              assert.equal(typeof res.body?.error?.code, 'string', `error shape: ${ctx}`);
              assert.equal(typeof res.body?.error?.message, 'string', `error shape: ${ctx}`);
              if (res.status === 400 && m.field !== null) {
                const fields = ((res.body.error.details ?? []) as { field?: string }[]).map((d) => String(d.field ?? ''));
                assert.ok(
                  fields.some((f) => f === m.field || f.startsWith(`${m.field}.`) || m.field!.startsWith(`${f}.`)),
                  `the 400 names ${m.field}: ${ctx}`,
                );
              }
            }),
            { numRuns: RUNS_PER_ROUTE },
          );
        }
        assert.equal(await snapshot(), before, 'the lists are unchanged');
        assert.equal(requests, fuzzed * RUNS_PER_ROUTE, `${requests} requests over ${fuzzed} routes`);
      });
    });
  }
});
