import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/store/db.ts';
import { createIngestToken, revokeIngestToken } from '../../src/store/tokens.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { auditCall } from '../helpers/segment-audit.ts';
import {
  getEvents,
  logCapture,
  postEvents,
  sampleEvent,
  startTestService,
  type TestService,
} from '../helpers/service.ts';

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

async function countEvents(workspaceId: string): Promise<number> {
  const rows = await app.service.database.db.execute<{ n: string }>(
    sql`select count(*) as n from events where workspace_id = ${workspaceId}`,
  );
  return Number(rows[0]!.n);
}

describe('POST /v1/events', () => {
  it('stores one event and answers 201 with its id, category and chain fields', async () => {
    const response = await postEvents(
      app.url,
      token,
      sampleEvent({ id: 'evt_single', timestamp: '2026-11-25T10:00:00.000Z' }),
    );
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ accepted: 1, duplicates: 0, ids: ['evt_single'] });

    const page = await (await getEvents(app.url, token, `?resourceId=${encodeURIComponent('wh_1')}`)).json();
    const stored = (await (await getEvents(app.url, token, '?type=Warehouses%20Disabled')).json()).events.find(
      (e: { id: string }) => e.id === 'evt_single',
    );
    expect(page).toBeDefined();
    expect(stored).toMatchObject({
      id: 'evt_single',
      workspaceId: 'acme',
      category: 'Warehouses',
      timestamp: '2026-11-25T10:00:00.000Z',
      seq: expect.any(Number),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('stores a batch and assigns ids to events sent without one', async () => {
    const response = await postEvents(app.url, token, { events: [sampleEvent(), sampleEvent({ id: 'evt_batch_2' })] });
    expect(response.status).toBe(201);
    const body = await response.json();
    expect(body.accepted).toBe(2);
    expect(body.ids[0]).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(body.ids[1]).toBe('evt_batch_2');
  });

  it('stores a type outside the catalog with category Other', async () => {
    const response = await postEvents(app.url, token, sampleEvent({ id: 'evt_custom', type: 'Custom Thing Happened' }));
    expect(response.status).toBe(201);
    const body = await (await getEvents(app.url, token, '?category=Other')).json();
    expect(body.events.map((e: { id: string }) => e.id)).toContain('evt_custom');
  });

  it(
    'stores a Segment wire name under its catalog type, ' + 'keeping the name as sent in metadata.segmentType',
    async () => {
      const response = await postEvents(app.url, token, {
        events: [
          sampleEvent({ id: 'evt_wire', type: 'Warehouse Disabled', metadata: { requestId: 'r1' } }),
          sampleEvent({ id: 'evt_wire_2', type: 'Integration Modified' }),
        ],
      });
      expect(response.status).toBe(201);
      const { events } = await (
        await getEvents(app.url, token, '?type=Warehouse%20Disabled&type=Integrations%20Modified')
      ).json();
      expect(events.filter((e: { id: string }) => e.id.startsWith('evt_wire'))).toEqual([
        expect.objectContaining({
          id: 'evt_wire_2',
          type: 'Integrations Modified',
          category: 'Integrations',
          metadata: { segmentType: 'Integration Modified' },
        }),
        expect.objectContaining({
          id: 'evt_wire',
          type: 'Warehouses Disabled',
          category: 'Warehouses',
          metadata: { requestId: 'r1', segmentType: 'Warehouse Disabled' },
        }),
      ]);
    },
  );

  it('stores nothing from a batch with one invalid event and names its index and path', async () => {
    const before = await countEvents('acme');
    const bad = sampleEvent({ actor: { type: 'user' } });
    const response = await postEvents(app.url, token, { events: [sampleEvent(), sampleEvent(), bad] });
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body.error).toMatch(/nothing was stored/);
    expect(body.details).toContainEqual({ index: 2, path: 'actor.id', message: 'is required' });
    expect(await countEvents('acme')).toBe(before);
  });

  it('reports unknown fields, bad timestamps and NUL characters with their paths', async () => {
    const response = await postEvents(app.url, token, {
      events: [
        sampleEvent({ colour: 'red' }),
        sampleEvent({ timestamp: 'yesterday' }),
        sampleEvent({ metadata: { note: 'a\u0000b' } }),
        sampleEvent({ actor: { type: 'robot', id: 'x' } }),
      ],
    });
    expect(response.status).toBe(400);
    const paths = (await response.json()).details.map((d: { index: number; path: string }) => `${d.index}:${d.path}`);
    expect(paths).toEqual(['0:colour', '1:timestamp', '2:metadata.note', '3:actor.type']);
  });

  it('accepts objects nested 32 levels deep and refuses 33 or 5,000 with a 400 naming the path', async () => {
    const nest = (levels: number): Record<string, unknown> => (levels <= 1 ? {} : { a: nest(levels - 1) });
    const deepest = (levels: number) => ['metadata', ...Array<string>(levels - 1).fill('a')].join('.');
    const before = await countEvents('acme');
    // The event is level 1 and metadata level 2, so metadata may hold 31 levels.
    expect((await postEvents(app.url, token, sampleEvent({ metadata: nest(31) }))).status).toBe(201);
    const over = await postEvents(app.url, token, { events: [sampleEvent(), sampleEvent({ metadata: nest(32) })] });
    expect(over.status).toBe(400);
    expect((await over.json()).details).toEqual([
      { index: 1, path: deepest(32), message: 'nests deeper than 32 levels' },
    ]);

    const start = '{"type":"X","actor":{"type":"system","id":"s"},"resource":{"type":"r","id":"1"},"metadata":';
    const stack = `{"events":[${start}${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}]}`;
    const deep = await postEvents(app.url, token, stack);
    expect(deep.status).toBe(400);
    expect((await deep.json()).details[0]).toMatchObject({ index: 0, message: 'nests deeper than 32 levels' });
    const arrays = await postEvents(app.url, token, `{"events":[${'['.repeat(5000)}${']'.repeat(5000)}]}`);
    expect(arrays.status).toBe(400);
    expect((await arrays.json()).details[0]).toMatchObject({ index: 0, message: 'nests deeper than 32 levels' });
    expect(await countEvents('acme')).toBe(before + 1);
  });

  it('refuses a body that is not valid UTF-8 instead of storing replacement characters', async () => {
    const before = await countEvents('acme');
    const json = Buffer.from(JSON.stringify(sampleEvent({ id: 'evt_latin1', metadata: { note: 'caf_' } })));
    json[json.indexOf('caf_') + 3] = 0xe9; // "café" in Latin-1: one byte that is not UTF-8
    const response = await postEvents(app.url, token, json.toString('latin1'), {});
    // fetch would re-encode a string as UTF-8, so send the bytes themselves.
    const raw = await fetch(`${app.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: json,
    });
    expect(response.status).toBe(201); // the same text, sent as proper UTF-8, is fine
    expect(raw.status).toBe(400);
    expect((await raw.json()).error).toMatch(/not valid UTF-8/);
    expect(await countEvents('acme')).toBe(before + 1);
  });

  it('counts an id already stored as a duplicate and stores it once', async () => {
    const first = await postEvents(app.url, token, sampleEvent({ id: 'evt_dup' }));
    expect((await first.json()).accepted).toBe(1);
    const before = await countEvents('acme');
    const again = await postEvents(app.url, token, {
      events: [sampleEvent({ id: 'evt_dup' }), sampleEvent({ id: 'evt_new' })],
    });
    expect(await again.json()).toEqual({ accepted: 1, duplicates: 1, ids: ['evt_dup', 'evt_new'] });
    expect(await countEvents('acme')).toBe(before + 1);
  });

  it('counts a repeated id within one batch as a duplicate', async () => {
    const response = await postEvents(app.url, token, {
      events: [sampleEvent({ id: 'evt_twice' }), sampleEvent({ id: 'evt_twice' })],
    });
    expect(await response.json()).toEqual({ accepted: 1, duplicates: 1, ids: ['evt_twice', 'evt_twice'] });
  });

  it('stores the same id in two workspaces independently', async () => {
    const other = await app.token('globex');
    expect((await (await postEvents(app.url, other, sampleEvent({ id: 'evt_shared' }))).json()).accepted).toBe(1);
    expect((await (await postEvents(app.url, token, sampleEvent({ id: 'evt_shared' }))).json()).accepted).toBe(1);
  });

  it('refuses an event over 32 KB with 413', async () => {
    const response = await postEvents(app.url, token, {
      events: [sampleEvent(), sampleEvent({ metadata: { blob: 'x'.repeat(33 * 1024) } })],
    });
    expect(response.status).toBe(413);
    const body = await response.json();
    expect(body.details[0]).toMatchObject({ index: 1, path: '(event)' });
    expect(body.error).toMatch(/32 KB/);
  });

  it('refuses more than 1,000 events with 413', async () => {
    const events = Array.from({ length: 1001 }, () => ({
      type: 'X',
      actor: { type: 'system', id: 's' },
      resource: { type: 'r', id: '1' },
    }));
    const response = await postEvents(app.url, token, { events });
    expect(response.status).toBe(413);
    expect((await response.json()).error).toMatch(/at most 1000 events/);
  });

  it('refuses a body over 1 MB with 413', async () => {
    const events = Array.from({ length: 40 }, () => sampleEvent({ metadata: { blob: 'x'.repeat(30 * 1024) } }));
    const response = await postEvents(app.url, token, { events });
    expect(response.status).toBe(413);
    expect((await response.json()).error).toMatch(/larger than 1 MB/);
  });

  it('answers 400 for malformed JSON and 415 for another content type, without a stack trace', async () => {
    const malformed = await postEvents(app.url, token, '{"type": ');
    expect(malformed.status).toBe(400);
    expect((await malformed.json()).error).toMatch(/not valid JSON/);
    const text = await postEvents(app.url, token, 'hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(await text.json()).toEqual({ error: 'Content-Type must be application/json' });
  });

  it('says why valid JSON with a __proto__ key is refused, instead of calling it invalid JSON', async () => {
    const body =
      '{"type":"X","actor":{"type":"user","id":"u"},"resource":{"type":"r","id":"i"},"metadata":{"__proto__":1}}';
    const refused = await postEvents(app.url, token, body);
    expect(refused.status).toBe(400);
    expect((await refused.json()).error).toMatch(/holds a "__proto__" key/);
    const malformed = await postEvents(app.url, token, '{"type": ');
    expect((await malformed.json()).error).toMatch(/^request body is not valid JSON: .+/);
  });

  it('answers 415 for a compressed body or a charset other than UTF-8, storing nothing', async () => {
    const before = await countEvents('acme');
    const gzip = await postEvents(app.url, token, sampleEvent(), { 'content-encoding': 'gzip' });
    expect(gzip.status).toBe(415);
    expect((await gzip.json()).error).toMatch(/Content-Encoding "gzip" is not supported/);
    const latin1 = await postEvents(app.url, token, sampleEvent(), {
      'content-type': 'application/json; charset=latin1',
    });
    expect(latin1.status).toBe(415);
    expect((await latin1.json()).error).toMatch(/charset "latin1" is not supported/);
    expect(await countEvents('acme')).toBe(before);
    const utf8 = await postEvents(app.url, token, sampleEvent(), { 'content-type': 'application/json; charset=UTF-8' });
    expect(utf8.status).toBe(201);
  });

  it('answers 401 without a token, with a wrong token and with a revoked token', async () => {
    const none = await fetch(`${app.url}/v1/events`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(none.status).toBe(401);
    expect((await postEvents(app.url, 'atk_wrong', sampleEvent())).status).toBe(401);
    const doomed = await createIngestToken(app.service.database.db, { workspaceId: 'acme', name: 'doomed' });
    expect((await postEvents(app.url, doomed.token, sampleEvent())).status).toBe(201);
    await revokeIngestToken(app.service.database.db, doomed.id);
    const revoked = await postEvents(app.url, doomed.token, sampleEvent());
    expect(revoked.status).toBe(401);
    expect(await revoked.json()).toEqual({ error: 'invalid or revoked token' });
  });

  it('accepts the bootstrap tokens from INGEST_TOKENS and stores them only hashed', async () => {
    const other = await startTestService(database.url, { ROLES: 'api', INGEST_TOKENS: 'boot:bootstrap-secret-1' });
    try {
      expect((await postEvents(other.url, 'bootstrap-secret-1', sampleEvent())).status).toBe(201);
      const rows = await other.service.database.db.execute<{ token_hash: string }>(
        sql`select token_hash from ingest_tokens`,
      );
      expect(rows.some((r) => r.token_hash.includes('bootstrap-secret-1'))).toBe(false);
    } finally {
      await other.stop();
    }
  });

  it('warns at start when INGEST_TOKENS names another workspace for a token already registered', async () => {
    const first = await startTestService(database.url, { ROLES: 'api', INGEST_TOKENS: 'typo:bootstrap-secret-2' });
    await first.stop();
    const log = logCapture();
    const moved = await startTestService(
      database.url,
      { ROLES: 'api', INGEST_TOKENS: 'right:bootstrap-secret-2' },
      { logStream: log.stream },
    );
    try {
      const warning = log.lines.find((line) => line.registeredWorkspaceId === 'typo');
      expect(warning).toMatchObject({ level: 40, workspaceId: 'right', tokenId: expect.stringMatching(/^env_/) });
      expect(String(warning!.msg)).toContain('tokens revoke env_');
      expect(JSON.stringify(log.lines)).not.toContain('bootstrap-secret-2');
    } finally {
      await moved.stop();
    }
  });

  it('answers 429 with Retry-After, storing nothing, when too many events already wait for one workspace', async () => {
    const busy = await startTestService(database.url, { ROLES: 'api' }, { appendLimits: { maxWaitingEvents: 3 } });
    const hold = createDb(database.url, { max: 1 });
    try {
      const t = await busy.token('crowded');
      expect((await postEvents(busy.url, t, sampleEvent())).status).toBe(201);
      // Another writer holds the workspace's chain head, so the next batch waits in the queue.
      let release!: () => void;
      const holding = hold.sql.begin(async (tx) => {
        await tx`select 1 from chain_heads where workspace_id = 'crowded' for update`;
        await new Promise<void>((resolve) => (release = resolve));
      });
      while (!release) await new Promise((r) => setTimeout(r, 10));
      const first = postEvents(busy.url, t, { events: [sampleEvent(), sampleEvent()] });
      // Until its transaction waits on that lock, the first batch may not have reached the queue.
      await expect
        .poll(
          async () =>
            (
              await app.service.database.sql`select count(*)::int as n from pg_stat_activity
                     where datname = current_database() and wait_event_type = 'Lock'`
            )[0]!.n,
        )
        .toBeGreaterThan(0);
      const refused = await postEvents(busy.url, t, { events: [sampleEvent({ id: 'evt_refused' }), sampleEvent()] });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect((await refused.json()).error).toMatch(/nothing was stored, retry/);
      // The limit is the workspace's, whichever route its events come by: Segment's push waits in the same queue.
      const call = (resourceId: string) =>
        auditCall({ type: 'Source Modified', details: { resource_id: resourceId, resource_type: 'source' } });
      const pushed = await fetch(`${busy.url}/v1/segment`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
        body: JSON.stringify([call('src_busy_1'), call('src_busy_2')]),
      });
      expect(pushed.status).toBe(429);
      release();
      await holding;
      expect((await first).status).toBe(201);
      expect(await countEvents('crowded')).toBe(3);
    } finally {
      await hold.close();
      await busy.stop();
    }
  });

  it('fails only the request Postgres refuses among 30 concurrent ones, storing every other', async () => {
    await app.service.database.db.execute(
      sql.raw(`
      create function refuse_poison() returns trigger language plpgsql as $$
      begin
        if new.resource_id = 'poison' then raise exception 'poisoned resource'; end if;
        return new;
      end $$;
      create trigger refuse_poison before insert on events for each row execute function refuse_poison();`),
    );
    const t = await app.token('concurrent');
    const batches = Array.from({ length: 30 }, (_, i) => ({
      events: [
        sampleEvent({ id: `evt_c${i}a` }),
        sampleEvent({ id: `evt_c${i}b`, resource: { type: 'warehouse', id: i === 17 ? 'poison' : `wh_c${i}` } }),
      ],
    }));
    const statuses = await Promise.all(batches.map(async (batch) => (await postEvents(app.url, t, batch)).status));
    expect(statuses.filter((s) => s !== 201)).toEqual([500]);
    expect(statuses[17]).toBe(500);
    expect(await countEvents('concurrent')).toBe(58);
    const stored = await app.service.database.db.execute<{ id: string }>(
      sql`select id from events where workspace_id = 'concurrent' and id like 'evt_c17%'`,
    );
    expect(stored).toEqual([]);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const response = await fetch(`${app.url}/v1/nothing`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(404);
    expect((await response.json()).error).toMatch(/no route/);
  });

  it('answers a path that does not percent-decode with a 400 in the API error shape', async () => {
    const response = await fetch(`${app.url}/v1/%E0%A4%A`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: expect.stringMatching(/not valid percent-encoded UTF-8/) });
  });
});
