import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingEvent } from '../../src/events.ts';
import { appendEventsTx } from '../../src/store/append.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { purgeExpiredEvents } from '../../src/store/retention.ts';
import { verifyChain } from '../../src/store/verify.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

let database: TestDatabase;
let store: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  store = createDb(database.url);
});

afterAll(async () => {
  await store?.close();
  await database?.drop();
});

const event = (n: number, extra: Partial<IncomingEvent> = {}): IncomingEvent => ({
  type: 'Source Modified',
  actor: { type: 'user', id: `usr_${n % 3}`, name: 'Jane' },
  resource: { type: 'source', id: `src_${n}` },
  changes: { before: { name: `old ${n}` }, after: { name: `new ${n}` } },
  metadata: { n, nested: { list: [1, 'two', { three: true }] } },
  ...extra,
});

describe('the hash chain', () => {
  it('verifies a chain built by many concurrent writers, with gap-free seq', async () => {
    await Promise.all(
      Array.from({ length: 12 }, (_, writer) =>
        appendEventsTx(
          store.db,
          'busy',
          Array.from({ length: 25 }, (_, i) => event(writer * 100 + i)),
        ),
      ),
    );
    const result = await verifyChain(store.db, 'busy');
    expect(result).toMatchObject({ ok: true, count: 300 });
    const seqs = await store.db.execute<{ seq: number }>(
      sql`select seq from events where workspace_id = 'busy' order by seq`,
    );
    expect(seqs.map((r) => Number(r.seq))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it('chains around ids already stored: gap-free seq, each event once, the head on the last', async () => {
    await appendEventsTx(store.db, 'repeats', [event(1, { id: 'a' }), event(2, { id: 'c' })]);
    const result = await appendEventsTx(store.db, 'repeats', [
      event(3, { id: 'b' }),
      event(4, { id: 'a' }),
      event(5, { id: 'd' }),
      event(6, { id: 'c' }),
      event(7, { id: 'b' }),
    ]);
    expect(result.stored.map((e) => [e.id, e.seq])).toEqual([
      ['b', 3],
      ['d', 4],
    ]);
    expect(result.duplicates).toBe(3);
    const rows = await store.db.execute<{ id: string; seq: string }>(
      sql`select id, seq from events where workspace_id = 'repeats' order by seq`,
    );
    expect(rows.map((r) => [r.id, Number(r.seq)])).toEqual([
      ['a', 1],
      ['c', 2],
      ['b', 3],
      ['d', 4],
    ]);
    const [head] = await store.db.execute<{ seq: string; hash: string }>(
      sql`select seq, hash from chain_heads where workspace_id = 'repeats'`,
    );
    expect([Number(head!.seq), head!.hash]).toEqual([4, result.stored.at(-1)!.hash]);
    expect(await verifyChain(store.db, 'repeats')).toMatchObject({ ok: true, count: 4 });
    // An object the producer left out is stored as no value, not as JSON null.
    const [absent] = await store.db.execute<{ n: string }>(
      sql`select count(*) as n from events where workspace_id = 'repeats' and context is null and metadata is not null`,
    );
    expect(Number(absent!.n)).toBe(4);
  });

  it('detects a one-field edit made with SQL and names the seq', async () => {
    await appendEventsTx(
      store.db,
      'tamper',
      Array.from({ length: 10 }, (_, i) => event(i)),
    );
    expect((await verifyChain(store.db, 'tamper')).ok).toBe(true);

    await store.db.execute(sql`update events set actor_id = 'usr_innocent' where workspace_id = 'tamper' and seq = 4`);
    expect(await verifyChain(store.db, 'tamper')).toMatchObject({ ok: false, seq: 4 });
  });

  it('detects an edit inside a JSON field', async () => {
    await appendEventsTx(
      store.db,
      'tamper-json',
      Array.from({ length: 5 }, (_, i) => event(i)),
    );
    await store.db.execute(
      sql`update events set metadata = jsonb_set(metadata, '{nested,list,0}', '2')
          where workspace_id = 'tamper-json' and seq = 2`,
    );
    expect(await verifyChain(store.db, 'tamper-json')).toMatchObject({ ok: false, seq: 2 });
  });

  it('detects a deleted event in the middle and at the end', async () => {
    await appendEventsTx(
      store.db,
      'gaps',
      Array.from({ length: 6 }, (_, i) => event(i)),
    );
    await store.db.execute(sql`delete from events where workspace_id = 'gaps' and seq = 6`);
    expect(await verifyChain(store.db, 'gaps')).toMatchObject({ ok: false, seq: 6 });
    await store.db.execute(sql`delete from events where workspace_id = 'gaps' and seq = 3`);
    expect(await verifyChain(store.db, 'gaps')).toMatchObject({ ok: false, seq: 3 });
  });

  it('keeps verifying after a retention purge, from the checkpoint on', async () => {
    await appendEventsTx(
      store.db,
      'old',
      Array.from({ length: 30 }, (_, i) => event(i)),
    );
    // Age the first 20 as if they had arrived 100 days ago.
    await store.db.execute(
      sql`update events set received_at = now() - interval '100 days' where workspace_id = 'old' and seq <= 20`,
    );
    const results = await purgeExpiredEvents(store.db, 90);
    expect(results.find((r) => r.workspaceId === 'old')).toEqual({ workspaceId: 'old', purged: 20, checkpointSeq: 20 });
    const left = await store.db.execute<{ n: string }>(
      sql`select count(*) as n from events where workspace_id = 'old'`,
    );
    expect(Number(left[0]!.n)).toBe(10);
    expect(await verifyChain(store.db, 'old')).toMatchObject({ ok: true, count: 10 });

    await appendEventsTx(store.db, 'old', [event(99)]);
    expect(await verifyChain(store.db, 'old')).toMatchObject({ ok: true, count: 11 });
    // A second purge with nothing expired changes nothing.
    expect((await purgeExpiredEvents(store.db, 90)).find((r) => r.workspaceId === 'old')).toBeUndefined();
  });

  it('still catches tampering after a purge', async () => {
    await appendEventsTx(
      store.db,
      'old2',
      Array.from({ length: 8 }, (_, i) => event(i)),
    );
    await store.db.execute(
      sql`update events set received_at = now() - interval '91 days' where workspace_id = 'old2' and seq <= 3`,
    );
    await purgeExpiredEvents(store.db, 90);
    await store.db.execute(sql`update events set type = 'Source Created' where workspace_id = 'old2' and seq = 4`);
    expect(await verifyChain(store.db, 'old2')).toMatchObject({ ok: false, seq: 4 });
  });
});
