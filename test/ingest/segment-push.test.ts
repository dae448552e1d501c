import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { auditCall, SEGMENT_WORKSPACE_ID, SPEC_WIRE_NAMES } from '../helpers/segment-audit.ts';
import { getEvents, startTestService, type TestService } from '../helpers/service.ts';

let database: TestDatabase;
let app: TestService;
let token: string;

beforeAll(async () => {
  database = await createTestDatabase();
  app = await startTestService(database.url, { ROLES: 'api' });
  token = await app.token('acme');
});

afterAll(async () => {
  await app?.stop();
  await database?.drop();
});

type Auth = { bearer: string } | { basic: string; password?: string } | { header: string } | null;

function pushSegment(
  body: unknown,
  auth: Auth = { bearer: token },
  contentType = 'application/json',
  extraHeaders: Record<string, string> = {},
) {
  const headers: Record<string, string> = {
    'content-type': contentType,
    'user-agent': 'Segment.io/1.0',
    ...extraHeaders,
  };
  if (auth && 'bearer' in auth) headers.authorization = `Bearer ${auth.bearer}`;
  if (auth && 'basic' in auth)
    headers.authorization = `Basic ${Buffer.from(`${auth.basic}:${auth.password ?? ''}`).toString('base64')}`;
  if (auth && 'header' in auth) headers.authorization = auth.header;
  return fetch(`${app.url}/v1/segment`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
}

/** An audit call as JSON text, with `raw` spliced in as `properties.details.x` (too deep for JSON.stringify). */
function callWithRawDetail(resourceId: string, raw: string): { messageId: string; text: string } {
  const call = auditCall({
    type: 'Source Modified',
    details: { resource_id: resourceId, resource_type: 'source', subject: 'users/u1', x: 'RAW_GOES_HERE' },
  });
  return { messageId: call.messageId as string, text: JSON.stringify(call).replace('"RAW_GOES_HERE"', raw) };
}

const nestedObjects = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;
const nestedArrays = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

interface Stored {
  id: string;
  type: string;
  category: string;
  timestamp: string;
  actor: { type: string; id: string; email?: string };
  resource: { type: string; id: string; name?: string };
  metadata: Record<string, unknown> | null;
}

async function stored(workspaceToken = token, query = '?limit=1000'): Promise<Stored[]> {
  return ((await (await getEvents(app.url, workspaceToken, query)).json()) as { events: Stored[] }).events;
}

async function storedBy(messageId: string, workspaceToken = token): Promise<Stored | undefined> {
  return (await stored(workspaceToken)).find((event) => event.metadata?.segmentMessageId === messageId);
}

const warehouse = SPEC_WIRE_NAMES[0]!;

describe('POST /v1/segment', () => {
  it('stores one Audit Forwarding call under its catalog type, mapped as SPEC section 11 says', async () => {
    const call = auditCall({
      type: 'Warehouse Disabled',
      details: { ...warehouse.details, resource_id: 'wh_single' },
      email: 'jane@acme.com',
    });

    const response = await pushSegment(call);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 1, duplicates: 0, ignored: 0 });
    const event = await storedBy(call.messageId as string);
    expect(event).toMatchObject({
      id: expect.stringMatching(/^seg_[0-9a-f]{32}$/),
      type: 'Warehouses Disabled',
      category: 'Warehouses',
      timestamp: call.timestamp,
      actor: { type: 'user', id: 'MNxxtIRCbe', email: 'jane@acme.com' },
      resource: { type: 'warehouse', id: 'wh_single', name: 'postgres' },
      metadata: {
        resource_id: 'wh_single',
        resource_type: 'warehouse',
        subject: 'users/MNxxtIRCbe',
        target: 'postgres',
        warehouse_id: 'HpLcqdFbPX',
        segmentType: 'Warehouse Disabled',
        segmentWorkspaceId: SEGMENT_WORKSPACE_ID,
        segmentMessageId: call.messageId,
      },
    });
  });

  it('takes a JSON array and a {"batch": […]} of calls alike', async () => {
    const calls = [0, 1, 2, 3].map((i) =>
      auditCall({
        type: 'Integration Modified',
        details: { ...SPEC_WIRE_NAMES[1]!.details, resource_id: `dst_batch_${i}` },
      }),
    );

    const asArray = await pushSegment(calls.slice(0, 2));
    const asBatch = await pushSegment({ batch: calls.slice(2) });

    expect(await asArray.json()).toEqual({ accepted: 2, duplicates: 0, ignored: 0 });
    expect(await asBatch.json()).toEqual({ accepted: 2, duplicates: 0, ignored: 0 });
    for (const call of calls) expect((await storedBy(call.messageId as string))?.type).toBe('Integrations Modified');
  });

  it(
    'reads every wire name of SPEC section 7 as its catalog type, ' + 'and keeps a name with no twin as it came',
    async () => {
      const calls = SPEC_WIRE_NAMES.map(({ wire, details }) => auditCall({ type: wire, details }));

      const response = await pushSegment({ batch: calls });

      expect(await response.json()).toEqual({ accepted: SPEC_WIRE_NAMES.length, duplicates: 0, ignored: 0 });
      const events = await stored();
      for (const [index, { wire, type }] of SPEC_WIRE_NAMES.entries()) {
        const event = events.find((e) => e.metadata?.segmentMessageId === calls[index]!.messageId);
        expect(event, wire).toMatchObject({ type, metadata: { segmentType: wire } });
      }
      const permissionCheck = events.find((e) => e.metadata?.segmentMessageId === calls.at(-1)!.messageId);
      expect(permissionCheck).toMatchObject({
        type: 'Permission Check',
        category: 'Other',
        actor: { type: 'user', id: 'MNxxtIRCbe' },
      });
    },
  );

  it('reads Segment’s __system__ as a system actor and a token subject as a token', async () => {
    const allowed = SPEC_WIRE_NAMES.find((w) => w.wire === 'New Event Allowed')!;
    const system = auditCall({
      type: allowed.wire,
      details: { ...allowed.details, resource_id: 'src_system' },
      userId: '__system__',
    });
    const byToken = auditCall({
      type: 'Source Disabled',
      details: { resource_id: 'src_tok', resource_type: 'source', subject: 'tokens/tok_9' },
    });

    expect((await pushSegment([system, byToken])).status).toBe(200);

    expect((await storedBy(system.messageId as string))?.actor).toEqual({ type: 'system', id: '__system__' });
    expect((await storedBy(byToken.messageId as string))?.actor).toEqual({ type: 'token', id: 'tok_9' });
  });

  it(
    'accepts the token as a Bearer token or as the basic-auth user, ' + 'and stores into that token’s workspace only',
    async () => {
      const other = await app.token('globex');
      const viaBasic = auditCall({
        type: 'Source Enabled',
        details: { resource_id: 'src_basic', resource_type: 'source', subject: 'users/u1' },
      });
      const viaBearer = auditCall({
        type: 'Source Enabled',
        details: { resource_id: 'src_bearer', resource_type: 'source', subject: 'users/u1' },
      });

      expect((await pushSegment(viaBasic, { basic: other })).status).toBe(200);
      expect((await pushSegment(viaBearer, { bearer: other })).status).toBe(200);

      expect(await storedBy(viaBasic.messageId as string, other)).toBeDefined();
      expect(await storedBy(viaBearer.messageId as string, other)).toBeDefined();
      expect(await storedBy(viaBasic.messageId as string)).toBeUndefined();
    },
  );

  it('answers 401 without credentials, with a wrong token, and with a bare word for a header', async () => {
    const call = auditCall({
      type: 'Source Enabled',
      details: { resource_id: 'src_401', resource_type: 'source', subject: 'users/u1' },
    });
    for (const auth of [null, { bearer: 'atk_wrong' }, { basic: 'atk_wrong' }, { header: token }] satisfies Auth[]) {
      const response = await pushSegment(call, auth);
      expect([auth, response.status]).toEqual([auth, 401]);
      expect(await response.json()).toEqual({ error: expect.any(String) });
    }
    expect(await storedBy(call.messageId as string)).toBeUndefined();
  });

  it('counts a call already stored as a duplicate, so Segment’s retries store nothing twice', async () => {
    const calls = [0, 1, 2].map((i) =>
      auditCall({
        type: 'Source Disabled',
        details: { resource_id: `src_dup_${i}`, resource_type: 'source', subject: 'users/u1' },
      }),
    );
    expect(await (await pushSegment(calls.slice(0, 2))).json()).toEqual({ accepted: 2, duplicates: 0, ignored: 0 });

    expect(await (await pushSegment(calls)).json()).toEqual({ accepted: 1, duplicates: 2, ignored: 0 });

    expect(
      (await stored()).filter(
        (e) => String(e.metadata?.segmentMessageId).startsWith('api-') && e.resource.id.startsWith('src_dup_'),
      ),
    ).toHaveLength(3);
  });

  it('answers an empty body with 400 saying what this route takes', async () => {
    const response = await pushSegment('');
    expect(response.status).toBe(400);
    expect((await response.json()).error).toBe(
      'request body is empty; send one track call, an array of them or {"batch": [...]}',
    );
  });

  it('ignores and counts calls that are not audit calls, never refusing them', async () => {
    const audit = auditCall({
      type: 'Source Deleted',
      details: { resource_id: 'src_mixed', resource_type: 'source', subject: 'users/u1' },
    });
    const others = [
      { type: 'identify', userId: 'u1', traits: { email: 'jane@acme.com' } },
      { type: 'track', event: 'Order Completed', userId: 'u1', properties: { total: 3 } },
      { type: 'page', name: 'Pricing' },
      { ...audit, type: 'page' },
      42,
    ];

    const response = await pushSegment([...others, audit]);
    const alone = await pushSegment({ type: 'track', event: 'Test Event', properties: {} });

    expect(await response.json()).toEqual({ accepted: 1, duplicates: 0, ignored: 5 });
    expect(await alone.json()).toEqual({ accepted: 0, duplicates: 0, ignored: 1 });
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/audit_segment_push_events_total\{outcome="ignored"\} ([6-9]|\d\d+)/);
  });

  it(
    'refuses a batch with an invalid audit call with 400 naming each index and path, ' + 'and stores none of it',
    async () => {
      const good = auditCall({
        type: 'Source Disabled',
        details: { resource_id: 'src_allornothing', resource_type: 'source', subject: 'users/u1' },
      });
      const noType = auditCall({
        type: 'x',
        details: { resource_id: 'r', resource_type: 'source', subject: 'users/u1' },
      });
      delete (noType.properties as Record<string, unknown>).type;
      const noResource = auditCall({ type: 'Source Disabled', details: { subject: 'users/u1', target: 'Web' } });
      const badTime = {
        ...auditCall({
          type: 'Source Disabled',
          details: { resource_id: 'r2', resource_type: 'source', subject: 'users/u1' },
        }),
        timestamp: 'yesterday',
      };
      const stringDetails = auditCall({ type: 'Source Disabled', details: {} });
      (stringDetails.properties as Record<string, unknown>).details = 'source src_1';
      const nulInName = auditCall({
        type: 'Source Disabled',
        details: { resource_id: 'r3', resource_type: 'source', subject: 'users/u1', target: 'a\u0000b' },
      });

      const response = await pushSegment({ batch: [good, noType, noResource, badTime, stringDetails, nulInName] });

      expect(response.status).toBe(400);
      const body = await response.json();
      expect(body.error).toMatch(
        /^5 invalid audit call\(s\); nothing was stored \(first: \[1\]\.properties\.type: is required\)$/,
      );
      expect(body.details).toEqual([
        { index: 1, path: 'properties.type', message: 'is required' },
        { index: 2, path: 'properties.details.resource_type', message: 'is required' },
        { index: 2, path: 'properties.details.resource_id', message: 'is required' },
        { index: 3, path: 'timestamp', message: expect.stringContaining('ISO 8601') },
        { index: 4, path: 'properties.details', message: 'must be a JSON object' },
        { index: 5, path: 'properties.details.target', message: 'must not contain the NUL character' },
      ]);
      expect(await storedBy(good.messageId as string)).toBeUndefined();
    },
  );

  it('refuses an audit call over 32 KB and a body over 1 MB with 413, and another content type with 415', async () => {
    const huge = auditCall({
      type: 'Source Modified',
      details: { resource_id: 'src_huge', resource_type: 'source', subject: 'users/u1', blob: 'x'.repeat(33 * 1024) },
    });
    const oversized = await pushSegment([huge]);
    expect(oversized.status).toBe(413);
    expect((await oversized.json()).details).toEqual([
      { index: 0, path: '(call)', message: expect.stringContaining('32 KB') },
    ]);

    const calls = Array.from({ length: 40 }, () =>
      auditCall({
        type: 'Source Modified',
        details: { resource_id: 'r', resource_type: 'source', blob: 'y'.repeat(30 * 1024) },
      }),
    );
    expect((await pushSegment(calls)).status).toBe(413);

    expect((await pushSegment('{}', { bearer: token }, 'text/plain')).status).toBe(415);
  });

  it('accepts an audit call nested 32 levels deep and refuses 33 with a 400 naming the path', async () => {
    // The call is level 1, properties 2, details 3, details.x 4: x holding 29 levels reaches level 32.
    const deepest = callWithRawDetail('src_deep_32', nestedObjects(29));
    const accepted = await pushSegment(deepest.text);
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toEqual({ accepted: 1, duplicates: 0, ignored: 0 });

    const good = callWithRawDetail('src_deep_good', '1');
    const over = callWithRawDetail('src_deep_33', nestedObjects(30));
    const refused = await pushSegment(`[${good.text},${over.text}]`);
    expect(refused.status).toBe(400);
    const body = await refused.json();
    const path = ['properties', 'details', 'x', ...Array<string>(29).fill('a')].join('.');
    expect(body.details).toEqual([{ index: 1, path, message: 'nests deeper than 32 levels' }]);
    expect(body.error).toBe(
      `1 invalid audit call(s); nothing was stored (first: [1].${path}: nests deeper than 32 levels)`,
    );

    expect(await storedBy(deepest.messageId)).toBeDefined();
    for (const call of [good, over]) expect(await storedBy(call.messageId)).toBeUndefined();
  });

  it('refuses an audit call nested 400,000 deep (or 150,000 as objects) with a 400, never a 500', async () => {
    // Deeper than any recursion survives, within the 1 MB body limit.
    const good = callWithRawDetail('src_deeper_good', '1');
    const arrays = callWithRawDetail('src_deep_arrays', nestedArrays(400_000));
    const objects = callWithRawDetail('src_deep_objects', nestedObjects(150_000));
    for (const [deep, key] of [
      [arrays, '0'],
      [objects, 'a'],
    ] as const) {
      const response = await pushSegment(`{"batch":[${good.text},${deep.text}]}`);
      expect([key, response.status]).toEqual([key, 400]);
      const path = ['properties', 'details', 'x', ...Array<string>(29).fill(key)].join('.');
      expect((await response.json()).details).toEqual([{ index: 1, path, message: 'nests deeper than 32 levels' }]);
    }
    for (const call of [good, arrays, objects]) expect(await storedBy(call.messageId)).toBeUndefined();
  });

  it('refuses a compressed body and a charset other than UTF-8 with 415, as POST /v1/events does', async () => {
    const call = auditCall({
      type: 'Source Enabled',
      details: { resource_id: 'src_415', resource_type: 'source', subject: 'users/u1' },
    });
    const gzipped = await pushSegment(gzipSync(JSON.stringify(call)), { bearer: token }, 'application/json', {
      'content-encoding': 'gzip',
    });
    expect(gzipped.status).toBe(415);
    expect(await gzipped.json()).toEqual({
      error: 'Content-Encoding "gzip" is not supported: send the JSON uncompressed',
    });
    // Uncompressed JSON that merely claims an encoding is refused too, never read as if the header were not there.
    const claimed = await pushSegment(call, { bearer: token }, 'application/json', { 'content-encoding': 'br' });
    expect(claimed.status).toBe(415);

    for (const type of ['application/json; charset=latin1', 'application/json;charset="utf-16"']) {
      const response = await pushSegment(call, { bearer: token }, type);
      expect([type, response.status]).toEqual([type, 415]);
      expect((await response.json()).error).toMatch(/^Content-Type charset "[^"]+" is not supported: send UTF-8$/);
    }
    const utf8 = await pushSegment(call, { bearer: token }, 'application/json; charset=UTF-8');
    expect(utf8.status).toBe(200);
    expect(await utf8.json()).toEqual({ accepted: 1, duplicates: 0, ignored: 0 });
  });

  it('authenticates before reading the body: bad JSON, bytes or encoding without a token is a 401', async () => {
    const badBodies: [string, string | Buffer, Record<string, string>][] = [
      ['not JSON', '{"batch": [', {}],
      ['not UTF-8', Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]), {}],
      ['gzip', gzipSync('[]'), { 'content-encoding': 'gzip' }],
    ];
    for (const [what, body, headers] of badBodies) {
      for (const auth of [null, { bearer: 'atk_wrong' }, { basic: 'atk_wrong' }] satisfies Auth[]) {
        const response = await pushSegment(body, auth, 'application/json', headers);
        expect([what, auth, response.status]).toEqual([what, auth, 401]);
      }
      // With the token, the body is read and refused for what it is.
      const response = await pushSegment(body, { bearer: token }, 'application/json', headers);
      expect([what, response.status]).toEqual([what, what === 'gzip' ? 415 : 400]);
    }
    const wrongType = await pushSegment('{', null, 'text/plain');
    expect(wrongType.status).toBe(401);
  });
});
