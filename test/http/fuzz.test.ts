/**
 * Property-based: thousands of generated bad requests against the real service over POST /v1/events,
 * POST /v1/segment, GET /v1/events and GET /v1/events.csv. Each must get a JSON 4xx (never a 5xx, never a
 * dropped connection), none may store anything, and /readyz must stay green.
 */

import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { auditCall } from '../helpers/segment-audit.ts';
import { postEvents, sampleEvent, startTestService, type TestService } from '../helpers/service.ts';

let database: TestDatabase;
let app: TestService;
let token: string;
let http: Pool;

beforeAll(async () => {
  database = await createTestDatabase();
  app = await startTestService(database.url, { ROLES: 'api' });
  token = await app.token('fuzz');
  // Something to page through and export, so reads do real work when they get that far.
  const seed = Array.from({ length: 30 }, (_, i) => sampleEvent({ id: `seed_${i}` }));
  expect((await postEvents(app.url, token, { events: seed })).status).toBe(201);
  // A few keep-alive connections carry every generated request.
  http = new Pool(app.url, { connections: 4, pipelining: 1 });
});

afterAll(async () => {
  await http?.close();
  await app?.stop();
  await database?.drop();
});

interface BadRequest {
  what: string;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

const auth = () => ({ authorization: `Bearer ${token}` });
const json = () => ({ ...auth(), 'content-type': 'application/json' });

// ---------- pieces ----------

/** Ids of valid events mixed into rejected batches: none of them may ever be stored. */
let validCounter = 0;
const validEvent = (): Record<string, unknown> => sampleEvent({ id: `fuzz_valid_${validCounter++}` });
const validEvents = (n: number) => Array.from({ length: n }, validEvent);

const EVENT_FIELDS = ['id', 'type', 'timestamp', 'actor', 'resource', 'changes', 'context', 'metadata'];
const QUERY_PARAMETERS = [
  'type',
  'category',
  'actor',
  'actorType',
  'resourceType',
  'resourceId',
  'since',
  'until',
  'limit',
  'cursor',
];

const text = fc.string({ unit: 'grapheme', maxLength: 20 });
const injected = fc.constantFrom('\u0000', '\ud800', '\udfff', 'a\u0000b', '\udc00x', 'x\ud83d');
/** A string holding NUL or a lone surrogate somewhere. */
const unstorable = fc.tuple(text, injected, text).map(([a, bad, b]) => `${a}${bad}${b}`);
const jsonScalar = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);
const notAString = fc.oneof(
  jsonScalar.filter((v) => v !== null),
  fc.array(text, { maxLength: 3 }),
  fc.dictionary(text, text, { maxKeys: 3 }),
);
const notAnObject = fc.oneof(jsonScalar, text, fc.array(jsonScalar, { maxLength: 3 }));

const badTimestamp = fc.oneof(
  fc.constantFrom(
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00Z',
    '0099-12-31T23:59:59Z',
    '1969-12-31T23:59:59.999Z',
    '9999-12-31T23:59:59-23:59',
    '2026-02-30T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-11-25T24:00:00Z',
    '+010000-01-01T00:00:00Z',
    '2026-11-25',
    'yesterday',
    '',
    '2026-11-25T10:00:00+25:00',
    '1 Jan 2026',
  ),
  fc.integer({ min: 1, max: 10_000 }).map((days) => new Date(Date.now() + 86_400_000 * (1 + days)).toISOString()),
  fc.integer({ min: 0, max: 1969 }).map((year) => `${String(year).padStart(4, '0')}-06-15T12:00:00Z`),
  text.filter((t) => Number.isNaN(Date.parse(t))),
);

/** JSON text put into a body as is: a value nested thousands deep would overflow the test's own JSON.stringify. */
class Raw {
  constructor(readonly text: string) {}
}

const nested = (levels: number, asArrays: boolean) =>
  new Raw(asArrays ? `${'['.repeat(levels)}1${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);

/** JSON.stringify, with each Raw value spliced in as its text. */
function toJson(value: unknown): string {
  const raws: string[] = [];
  const marked = JSON.stringify(value, (_key, item: unknown) =>
    item instanceof Raw ? `@@raw${raws.push(item.text) - 1}@@` : item,
  );
  return (marked ?? 'null').replace(/"@@raw(\d+)@@"/g, (_, i: string) => raws[Number(i)]!);
}

/** A valid event with `value` at `field` ("actor.id" reaches inside). */
function eventWith(field: string, value: unknown): Record<string, unknown> {
  const event = validEvent();
  const [outer, inner] = field.split('.') as [string, string | undefined];
  event[outer] = inner ? { ...(event[outer] as Record<string, unknown>), [inner]: value } : value;
  return event;
}

function eventWithout(field: string): Record<string, unknown> {
  const { [field]: _, ...rest } = validEvent();
  return rest;
}

type Case<T> = fc.Arbitrary<[string, T]>;

/** One event made invalid in one of many ways: [what, the event]. */
const badEvent: Case<unknown> = fc.oneof<Case<unknown>[]>(
  fc
    .tuple(fc.constantFrom('type', 'id'), notAString)
    .map(([field, v]) => [`${field} not a string`, eventWith(field, v)]),
  notAnObject.map((v) => ['actor not an object', eventWith('actor', v)]),
  notAnObject.filter((v) => v !== null).map((v) => ['changes not an object', eventWith('changes', v)]),
  fc.constantFrom('robot', '', 'USER', 'user ').map((v) => ['bad actor.type', eventWith('actor.type', v)]),
  fc.constantFrom('type', 'actor', 'resource').map((field) => [`missing ${field}`, eventWithout(field)]),
  fc
    .tuple(fc.constantFrom('type', 'id', 'actor.id', 'actor.name', 'resource.id', 'resource.name'), unstorable)
    .map(([field, v]) => [`NUL or lone surrogate in ${field}`, eventWith(field, v)]),
  fc
    .tuple(unstorable, fc.boolean())
    .map(([v, asKey]) => [
      `NUL or lone surrogate in a metadata ${asKey ? 'key' : 'value'}`,
      eventWith('metadata', { deep: { list: [1, asKey ? { [v]: 1 } : v] } }),
    ]),
  badTimestamp.map((v) => [`bad timestamp ${JSON.stringify(v)}`, eventWith('timestamp', v)]),
  fc
    .tuple(fc.integer({ min: 31, max: 6000 }), fc.boolean(), fc.constantFrom('changes', 'context', 'metadata'))
    .map(([levels, asArrays, field]) => [
      `${field} nested ${levels + 2} deep`,
      eventWith(field, { x: nested(levels, asArrays) }),
    ]),
  fc
    .integer({ min: 33, max: 6000 })
    .map((levels) => [`an event that is ${levels} nested arrays`, nested(levels, true)]),
  fc
    .stringMatching(/^[a-z][a-zA-Z]{0,12}$/)
    .filter((key) => !EVENT_FIELDS.includes(key))
    .map((key) => [`unknown field ${key}`, eventWith(key, 1)]),
  fc
    .integer({ min: 33 * 1024, max: 200 * 1024 })
    .map((n) => ['an event over 32 KB', eventWith('metadata', { blob: 'x'.repeat(n) })]),
  fc.constantFrom(null, 1, 'event', [], true).map((v) => [`an event that is ${JSON.stringify(v)}`, v]),
);

// ---------- POST /v1/events ----------

const post = (what: string, body: string | Buffer, headers: Record<string, string> = json()): BadRequest => ({
  what,
  method: 'POST',
  path: '/v1/events',
  headers,
  body,
});

/** A valid batch with these bytes in place of one event's metadata note. */
function withBytes(bytes: readonly number[]): Buffer {
  const marker = 'BYTES_GO_HERE';
  const body = JSON.stringify({ events: [validEvent(), eventWith('metadata', { note: marker })] });
  const at = body.indexOf(marker);
  const [head, tail] = [body.slice(0, at), body.slice(at + marker.length)];
  return Buffer.concat([Buffer.from(head), Buffer.from(bytes), Buffer.from(tail)]);
}

const notUtf8 = fc.oneof(
  // A byte that never starts a character, then anything…
  fc
    .tuple(fc.constantFrom(0x80, 0xbf, 0xc0, 0xc1, 0xf5, 0xf8, 0xfe, 0xff), fc.uint8Array({ maxLength: 4 }))
    .map(([lead, rest]) => [lead, ...rest]),
  // …or a character cut short, an overlong form, or a surrogate written as UTF-8 (CESU).
  fc.constantFrom([0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc3], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xe0, 0x80, 0xaf]),
);

const badContentType = fc.constantFrom(
  'text/plain',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json-seq',
  'application/jsonx',
  'json',
  '*/*',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json;charset="iso-8859-1"',
  'application/json; charset=',
);

const badHeaders: Case<Record<string, string>> = fc.oneof<Case<Record<string, string>>[]>(
  badContentType.map((type) => [`content-type ${type}`, { ...auth(), 'content-type': type }]),
  fc
    .constantFrom('gzip', 'deflate', 'br', 'x-unknown')
    .map((encoding) => [`content-encoding ${encoding}`, { ...json(), 'content-encoding': encoding }]),
  badAuthorization().map((authorization) => [
    `authorization ${JSON.stringify(authorization)}`,
    { 'content-type': 'application/json', ...authorization },
  ]),
);

const minimalEvent = { type: 'X', actor: { type: 'system', id: 's' }, resource: { type: 'r', id: '1' } };

const badPost: fc.Arbitrary<BadRequest> = fc.oneof(
  // A batch of valid events with one bad one somewhere: all or nothing.
  {
    weight: 6,
    arbitrary: fc
      .tuple(badEvent, fc.nat({ max: 4 }), fc.nat({ max: 4 }))
      .map(([[what, bad], before, after]) =>
        post(`batch with ${what}`, toJson({ events: [...validEvents(before), bad, ...validEvents(after)] })),
      ),
  },
  { weight: 2, arbitrary: badEvent.map(([what, bad]) => post(`single ${what}`, toJson(bad))) },
  // Not JSON at all, or cut short.
  {
    weight: 2,
    arbitrary: fc
      .string({ unit: 'binary', maxLength: 60 })
      .filter((s) => !isJson(s))
      .map((s) => post('not JSON', s)),
  },
  {
    weight: 1,
    arbitrary: fc.nat().map((cut) => {
      const whole = JSON.stringify({ events: validEvents(2) });
      return post('truncated JSON', whole.slice(0, 1 + (cut % (whole.length - 1))));
    }),
  },
  // Valid JSON with bytes that are not UTF-8 inside a string.
  { weight: 2, arbitrary: notUtf8.map((bytes) => post('invalid UTF-8', withBytes(bytes))) },
  // Wrong shapes of the whole body, too many events, too many bytes.
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        notAnObject.map((v) => ({ events: v })),
        fc.constant({ events: [] }),
        notAnObject.filter((v) => typeof v !== 'object' || v === null),
      )
      .map((body) => post(`body ${JSON.stringify(body).slice(0, 40)}`, JSON.stringify(body))),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1001, max: 1500 })
      .map((n) => post(`${n} events`, JSON.stringify({ events: Array.from({ length: n }, () => minimalEvent) }))),
  },
  {
    weight: 1,
    arbitrary: fc.constant(null).map(() => {
      const events = Array.from({ length: 40 }, () => eventWith('metadata', { blob: 'x'.repeat(30 * 1024) }));
      return post('a body over 1 MB', JSON.stringify({ events }));
    }),
  },
  // Bad headers with a valid body.
  {
    weight: 3,
    arbitrary: badHeaders.map(([what, headers]) => post(what, JSON.stringify({ events: validEvents(1) }), headers)),
  },
);

function badAuthorization(): fc.Arbitrary<Record<string, string>> {
  return fc.oneof(
    fc.constant({}),
    fc
      .constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'bearer  ', 'Token abc', 'Bearer a b')
      .map((v) => ({ authorization: v })),
    fc.stringMatching(/^[!-~]{1,80}$/).map((t) => ({ authorization: `Bearer ${t}` })),
  );
}

function isJson(value: string): boolean {
  try {
    JSON.parse(value);
    return true;
  } catch {
    return false;
  }
}

// ---------- POST /v1/segment ----------

/** Resource ids of valid audit calls mixed into rejected bodies: none of them may ever be stored. */
let validCallCounter = 0;
const validCall = (): Record<string, unknown> =>
  auditCall({
    type: 'Source Modified',
    details: { resource_id: `fuzz_src_${validCallCounter++}`, resource_type: 'source', subject: 'users/u1' },
  });
const validCalls = (n: number) => Array.from({ length: n }, validCall);

/** A valid audit call with `value` at `path` (`properties.details.target`); undefined leaves the field out. */
function callWith(path: string, value: unknown): Record<string, unknown> {
  const call = validCall();
  const keys = path.split('.');
  let at = call;
  for (const key of keys.slice(0, -1)) at = at[key] as Record<string, unknown>;
  if (value === undefined) delete at[keys.at(-1)!];
  else at[keys.at(-1)!] = value;
  return call;
}

/** One audit call made invalid in one of many ways: [what, the call]. */
const badCall: Case<unknown> = fc.oneof<Case<unknown>[]>(
  fc
    .constantFrom('properties.type', 'properties.details.resource_type', 'properties.details.resource_id')
    .map((path) => [`missing ${path}`, callWith(path, undefined)]),
  fc
    .tuple(fc.constantFrom('properties.type', 'properties.details.resource_type', 'userId'), notAString)
    .map(([path, v]) => [`${path} not a string`, callWith(path, v)]),
  fc
    .tuple(fc.constantFrom('properties', 'properties.details'), notAnObject)
    .map(([path, v]) => [`${path} not an object`, callWith(path, v)]),
  fc
    .tuple(
      fc.constantFrom(
        'properties.type',
        'properties.details.resource_type',
        'properties.details.resource_id',
        'properties.details.target',
        'properties.details.subject',
        'properties.details.note',
      ),
      unstorable,
    )
    .map(([path, v]) => [`NUL or lone surrogate in ${path}`, callWith(path, v)]),
  badTimestamp.map((v) => [`bad timestamp ${JSON.stringify(v)}`, callWith('timestamp', v)]),
  // The call is level 1 and its details level 3, so details.x holding 30 levels reaches level 33.
  fc
    .tuple(fc.integer({ min: 30, max: 6000 }), fc.boolean())
    .map(([levels, asArrays]) => [
      `details.x ${levels} levels deep`,
      callWith('properties.details.x', nested(levels, asArrays)),
    ]),
  fc
    .tuple(fc.constantFrom(100_000, 150_000), fc.boolean())
    .map(([levels, asArrays]) => [
      `details.x ${levels} levels deep`,
      callWith('properties.details.x', nested(levels, asArrays)),
    ]),
  fc
    .integer({ min: 33 * 1024, max: 200 * 1024 })
    .map((n) => ['an audit call over 32 KB', callWith('properties.details.blob', 'x'.repeat(n))]),
);

const segmentPost = (what: string, body: string | Buffer, headers: Record<string, string> = json()): BadRequest => ({
  what: `POST /v1/segment: ${what}`,
  method: 'POST',
  path: '/v1/segment',
  headers,
  body,
});

/** A valid audit call with these bytes in place of one detail. */
function callWithBytes(bytes: readonly number[]): Buffer {
  const marker = 'BYTES_GO_HERE';
  const body = JSON.stringify([validCall(), callWith('properties.details.note', marker)]);
  const at = body.indexOf(marker);
  const [head, tail] = [body.slice(0, at), body.slice(at + marker.length)];
  return Buffer.concat([Buffer.from(head), Buffer.from(bytes), Buffer.from(tail)]);
}

const badSegmentPost: fc.Arbitrary<BadRequest> = fc.oneof(
  // One bad audit call among valid ones, as an array, a batch or alone: all or nothing.
  {
    weight: 6,
    arbitrary: fc
      .tuple(badCall, fc.nat({ max: 4 }), fc.nat({ max: 4 }), fc.boolean())
      .map(([[what, bad], before, after, asBatch]) => {
        const calls = [...validCalls(before), bad, ...validCalls(after)];
        return segmentPost(`${asBatch ? 'batch' : 'array'} with ${what}`, toJson(asBatch ? { batch: calls } : calls));
      }),
  },
  { weight: 2, arbitrary: badCall.map(([what, bad]) => segmentPost(`single ${what}`, toJson(bad))) },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: 'binary', maxLength: 60 })
      .filter((s) => !isJson(s))
      .map((s) => segmentPost('not JSON', s)),
  },
  {
    weight: 1,
    arbitrary: fc.nat().map((cut) => {
      const whole = JSON.stringify({ batch: validCalls(2) });
      return segmentPost('truncated JSON', whole.slice(0, 1 + (cut % (whole.length - 1))));
    }),
  },
  { weight: 1, arbitrary: notUtf8.map((bytes) => segmentPost('invalid UTF-8', callWithBytes(bytes))) },
  // A body that is no call at all (a JSON array or object of anything else is only ignored).
  {
    weight: 1,
    arbitrary: fc
      .oneof(jsonScalar, text)
      .map((body) => segmentPost(`body ${JSON.stringify(body).slice(0, 40)}`, JSON.stringify(body))),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1001, max: 1500 })
      .map((n) => segmentPost(`${n} calls`, JSON.stringify({ batch: Array.from({ length: n }, () => ({})) }))),
  },
  {
    weight: 1,
    arbitrary: fc.constant(null).map(() => {
      const calls = Array.from({ length: 40 }, () => callWith('properties.details.blob', 'x'.repeat(30 * 1024)));
      return segmentPost('a body over 1 MB', JSON.stringify(calls));
    }),
  },
  // Bad headers with a valid body.
  {
    weight: 3,
    arbitrary: badHeaders.map(([what, headers]) => segmentPost(what, JSON.stringify(validCalls(1)), headers)),
  },
  // A bad body without a valid token: authentication comes first.
  {
    weight: 1,
    arbitrary: fc
      .tuple(badAuthorization(), fc.constantFrom('{"batch": [', '[1, 2', 'null', '"Audit"'))
      .map(([authorization, body]) =>
        segmentPost(`${JSON.stringify(authorization)} with body ${body}`, body, {
          'content-type': 'application/json',
          ...authorization,
        }),
      ),
  },
);

// ---------- GET /v1/events(.csv) ----------

const enc = encodeURIComponent;
const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const minutesInto2026 = (minutes: number) => new Date(Date.UTC(2026, 0, 1) + minutes * 60_000).toISOString();

const badTimeSpec = fc.oneof(
  fc.constantFrom(
    '0000-01-01',
    '0050-01-01T00:00:00Z',
    '1969-12-31',
    '2026-02-30',
    '2026-11-01T24:00',
    '2026-11-01T10:60:00Z',
    '9999-12-31T23:00:00-05:00',
    '10000-01-01',
    '100000000d',
    '0d',
    '-5d',
    '7w',
    'last week',
    '',
    '2026-11-01T10:00:00+2500',
  ),
  fc.bigInt({ min: 25_000n, max: 10n ** 20n }).map((n) => `${n}d`),
  text.filter((t) => !/^\d+[smhd]$/.test(t.trim()) && !/^\d{4}-/.test(t.trim())),
);

const forgedCursor = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 40 }).map((s) => Buffer.from(s).toString('base64url')),
    fc.base64String({ maxLength: 40 }),
    fc
      .tuple(
        fc.oneof(
          badTimestamp,
          fc.constantFrom('2026-11-20T00:00:00.000Z\u0000', '2026-11-20T00:00:00Z', '2026-11-20T00:00:00.000+00:00'),
          jsonScalar,
        ),
        fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true, noNaN: true }), fc.constant(2 ** 53), text),
      )
      .map(forge),
    fc.tuple(badTimestamp, fc.nat()).map(forge),
    fc
      .jsonValue({ maxDepth: 2 })
      .filter((v) => !Array.isArray(v) || v.length !== 2)
      .map(forge),
  )
  .filter((cursor) => !isServiceCursor(cursor));

/** One parameter that is bad on its own: [what, raw query fragment]. */
const badParam: Case<string> = fc.oneof<Case<string>[]>(
  fc
    .tuple(fc.constantFrom('type', 'actor', 'resourceType', 'resourceId', 'category', 'actorType'), unstorable)
    .map(([name, v]) => [`NUL or lone surrogate in ${name}`, `${name}=${encodeLoosely(v)}`]),
  fc
    .tuple(fc.constantFrom('type', 'actor', 'resourceType', 'resourceId'), fc.integer({ min: 257, max: 3000 }))
    .map(([name, n]) => [`${name} too long`, `${name}=${'x'.repeat(n)}`]),
  fc
    .tuple(
      fc.constantFrom('actor', 'type', 'since', 'cursor', 'limit'),
      fc.constantFrom('%FF', '%E0%A4', '%C0%80', '%ED%A0%80', '%', '%zz', 'a%'),
    )
    .map(([name, v]) => [`undecodable ${name}`, `${name}=${v}`]),
  fc
    .stringMatching(/^[a-zA-Z_]{1,12}$/)
    .filter((k) => !QUERY_PARAMETERS.includes(k))
    .map((k) => [`unknown parameter ${k}`, `${k}=1`]),
  fc
    .constantFrom('0', '-1', '1001', '99999999999999999999', 'abc', '1e3', '1.5', '', ' 5')
    .map((v) => [`limit ${v}`, `limit=${enc(v)}`]),
  fc.constantFrom('Nope', 'warehouses', '', 'Other ').map((v) => [`category ${v}`, `category=${enc(v)}`]),
  fc.constantFrom('robot', '', 'USER').map((v) => [`actorType ${v}`, `actorType=${enc(v)}`]),
  fc
    .tuple(fc.constantFrom('since', 'until'), badTimeSpec)
    .map(([name, v]) => [`${name} ${JSON.stringify(v)}`, `${name}=${enc(v)}`]),
  fc
    .tuple(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 0, max: 3000 }))
    .map(([gap, at]) => ['since after until', `since=${minutesInto2026(at + gap)}&until=${minutesInto2026(at)}`]),
  fc
    .constantFrom('since', 'until', 'limit', 'actor', 'cursor')
    .map((name) => [`${name} twice`, `${name}=1d&${name}=2d`]),
  fc.constant(null).map(() => ['51 types', Array.from({ length: 51 }, (_, i) => `type=t${i}`).join('&')]),
  forgedCursor.map((cursor) => [`forged cursor ${cursor.slice(0, 30)}`, `cursor=${cursor}`]),
);

/** Would the service itself have written this cursor? (Generated ones almost never are; those are skipped.) */
function isServiceCursor(cursor: string): boolean {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string') return false;
    const ms = Date.parse(value[0]);
    const time = !Number.isNaN(ms) && ms >= 0 && new Date(ms).toISOString() === value[0];
    return time && Number.isSafeInteger(value[1]) && value[1] >= 0;
  } catch {
    return false;
  }
}

/** Percent-encodes like encodeURIComponent, but writes lone surrogates as WTF-8 bytes where it would throw. */
function encodeLoosely(value: string): string {
  let out = '';
  for (const char of value) {
    // for…of walks code points: a lone surrogate comes alone, a pair together.
    const code = char.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) {
      const bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
      out += bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else out += enc(char);
  }
  return out;
}

/** Filters that are fine on their own, mixed in around the bad one. */
const fineParam = fc.constantFrom(
  'type=Source%20Modified',
  'category=Warehouses',
  'actor=usr_1',
  'actor=jane%40acme.com',
  'actorType=user',
  'resourceType=warehouse',
  'resourceId=wh_1',
  'since=7d',
  'until=2099-01-01',
  'since=2026-01-01',
);
const readPath = fc.constantFrom('/v1/events', '/v1/events.csv');
const get = (what: string, path: string, headers: Record<string, string> = auth()): BadRequest => ({
  what,
  method: 'GET',
  path,
  headers,
});

const badGet: fc.Arbitrary<BadRequest> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(readPath, fc.array(fineParam, { maxLength: 3 }), badParam, fc.nat())
      .map(([path, fine, [what, bad], at]) => {
        const params: string[] = [...fine];
        params.splice(at % (params.length + 1), 0, bad);
        return get(`GET ${path}: ${what}`, `${path}?${params.join('&')}`);
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('limit=5', 'cursor=abc', 'limit=5&cursor=abc')
      .map((q) => get(`CSV with ${q}`, `/v1/events.csv?${q}`)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(readPath, badAuthorization())
      .map(([path, headers]) => get(`GET ${path} with ${JSON.stringify(headers)}`, path, headers)),
  },
);

const badRequest = fc.oneof(
  { weight: 11, arbitrary: badPost },
  { weight: 8, arbitrary: badSegmentPost },
  { weight: 9, arbitrary: badGet },
);

// ---------- the property ----------

async function storedState() {
  const [counts] = await app.service.database.db.execute<{ n: number; valid: number; validCalls: number }>(
    sql`select count(*)::int as n, count(*) filter (where id like 'fuzz_valid_%')::int as valid,
        count(*) filter (where resource_id like 'fuzz_src_%')::int as "validCalls" from events`,
  );
  const heads = await app.service.database.db.execute<{ workspace_id: string; seq: string; hash: string }>(
    sql`select workspace_id, seq, hash from chain_heads order by workspace_id`,
  );
  return { ...counts, heads };
}

async function send(request: BadRequest): Promise<{ status: number; text: string }> {
  const { method, path, headers, body } = request;
  const response = await http.request({ method, path, headers, body });
  return { status: response.statusCode, text: await response.body.text() };
}

const BATCH = 25;
const RUNS = 112; // 112 × 25 = 2,800 requests

describe('fuzzing the HTTP API with bad requests', () => {
  it(`answers ${RUNS * BATCH} generated bad requests with a JSON 4xx, storing nothing and staying ready`, async () => {
    const before = await storedState();
    let sent = 0;
    const result = await fc.check(
      fc.asyncProperty(fc.array(badRequest, { minLength: BATCH, maxLength: BATCH }), async (requests) => {
        const answers = await Promise.all(requests.map(async (request) => ({ request, answer: await send(request) })));
        sent += requests.length;
        for (const { request, answer } of answers) {
          const where = `${request.what} → ${answer.status} ${answer.text.slice(0, 300)}`;
          expect(answer.status, where).toBeGreaterThanOrEqual(400);
          expect(answer.status, where).toBeLessThan(500);
          expect(typeof (JSON.parse(answer.text) as { error?: unknown }).error, where).toBe('string');
        }
      }),
      // No shrinking: the failure names its one request already, and shrinking would replay hundreds.
      { numRuns: RUNS, endOnFailure: true },
    );
    // fast-check's own report prints all 25 requests in full (megabytes with the large bodies).
    if (result.failed) {
      const error = result.errorInstance as Error | undefined;
      throw new Error(`seed ${result.seed}: ${error?.message ?? String(result.errorInstance)}`);
    }
    expect(sent).toBeGreaterThanOrEqual(2800);
    expect(await storedState()).toEqual(before);
    expect(before.valid).toBe(0);
    expect(before.validCalls).toBe(0);
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
  }, 120_000);
});
