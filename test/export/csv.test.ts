import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvRecordTimestamp, eventsCsv } from '../../src/export/csv.ts';
import { appendEventsTx } from '../../src/store/append.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import type { EventFilters } from '../../src/store/queries.ts';
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

async function csvText(db: Database, workspaceId: string, filters: EventFilters = {}, onRow?: (r: Buffer) => void) {
  const parts: Buffer[] = [];
  for await (const chunk of eventsCsv(db, workspaceId, filters, onRow)) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

const at = (minute: number) => new Date(Date.UTC(2026, 10, 20, 0, minute)).toISOString();

describe('the CSV export', () => {
  it('puts an apostrophe before each cell a spreadsheet would run, and writes empty text as no value', async () => {
    const cells = [
      '=1+1',
      '+1',
      '-2',
      '@SUM(A1)',
      '\tx',
      '\rx',
      '＝1',
      '＋1',
      '－1',
      '＠x',
      'plain',
      'a,b',
      'say "hi"',
    ];
    await appendEventsTx(
      store.db,
      'formulas',
      cells.map((text, i) => ({
        id: `f${i}`,
        type: 'Source Modified',
        timestamp: at(i),
        actor: { type: 'user', id: `usr_${i}`, name: text, email: '' },
        resource: { type: 'source', id: `src_${i}`, name: text },
        metadata: { text },
      })),
    );
    const rows = parse(await csvText(store, 'formulas'), { columns: true }) as Record<string, string>[];
    const byId = new Map(rows.map((row) => [row.id, row]));
    cells.forEach((text, i) => {
      const row = byId.get(`f${i}`)!;
      const shown = /^[=+\-@\t\r＝＋－＠]/.test(text) ? `'${text}` : text;
      expect(row.actor_name, JSON.stringify(text)).toBe(shown);
      expect(row.resource_name).toBe(shown);
      expect(row.actor_email).toBe('');
      expect(JSON.parse(row.metadata!)).toEqual({ text });
      expect(row.timestamp).toBe(at(i));
    });
    expect(rows.map((r) => r.id)).toEqual(cells.map((_, i) => `f${i}`).reverse());
  });

  it('takes filter values as data, whatever quotes, dollars or backslashes they hold', async () => {
    await appendEventsTx(store.db, 'injection', [
      {
        id: 'i1',
        type: "Source Modified', now()) --",
        actor: { type: 'user', id: "o'brien" },
        resource: { type: 'source', id: '$$x$$' },
      },
      {
        id: 'i2',
        type: 'Source Modified',
        actor: { type: 'user', id: 'a\\b' },
        resource: { type: 'source', id: '$v0$' },
      },
    ]);
    const ids = async (filters: EventFilters) =>
      (parse(await csvText(store, 'injection', filters), { columns: true }) as { id: string }[]).map((r) => r.id);
    expect(await ids({ actor: "o'brien" })).toEqual(['i1']);
    expect(await ids({ resourceId: '$$x$$' })).toEqual(['i1']);
    expect(await ids({ types: ["Source Modified', now()) --"] })).toEqual(['i1']);
    expect(await ids({ actor: 'a\\b' })).toEqual(['i2']);
    expect(await ids({ resourceId: '$v0$' })).toEqual(['i2']);
    expect(await ids({ actor: "' or '1'='1" })).toEqual([]);
    expect(await ids({ since: new Date('2000-01-01'), until: new Date('2100-01-01') })).toEqual(['i2', 'i1']);
  });

  it('hands each row to onRow whole, quoted ids and newlines in cells included', async () => {
    await appendEventsTx(store.db, 'records', [
      {
        id: 'r"1,\nx',
        type: 'Source Modified',
        timestamp: at(1),
        actor: { type: 'user', id: 'u', name: 'two\nlines' },
        resource: { type: 'source', id: 's' },
      },
      {
        id: 'r2',
        type: 'Source Modified',
        timestamp: at(2),
        actor: { type: 'user', id: 'u' },
        resource: { type: 'source', id: 's' },
      },
    ]);
    const records: Buffer[] = [];
    await csvText(store, 'records', {}, (record) => records.push(record));
    expect(records.map(csvRecordTimestamp)).toEqual([at(2), at(1)]);
  });

  it("is not cut short by the pool's statement timeout: the COPY is one statement however long it runs", async () => {
    await appendEventsTx(
      store.db,
      'long',
      Array.from({ length: 5000 }, (_, i) => ({
        type: 'Source Modified',
        actor: { type: 'user', id: `usr_${i}` },
        resource: { type: 'source', id: `src_${i}`, name: 'x'.repeat(500) },
      })),
    );
    // A service whose statements may take 2 ms: no COPY of 5,000 rows of half a kilobyte finishes in that, so the
    // export must run on a connection without the pool's statement timeout.
    // The timeout is set once connected: on connect postgres.js looks up array types, which 2 ms does not allow on a
    // busy machine (its failure would be an unhandled rejection inside the driver, not this test's subject).
    const strict = createDb(database.url, { max: 1 });
    try {
      await strict.sql`select 1`;
      await strict.sql`set statement_timeout = 2`;
      await expect(strict.sql`select pg_sleep(0.05)`).rejects.toThrow(/statement timeout/);
      const records: Buffer[] = [];
      const rows = parse(await csvText(strict, 'long', {}, (record) => records.push(record)), { columns: true });
      expect(rows).toHaveLength(5000);
      // Each chunk is 64 KB, over the stream's high-water mark, so the COPY stream was paused and resumed throughout:
      // its rows still reach onRow one at a time.
      expect(records).toHaveLength(5000);
      expect(records.every((record) => parse(record).length === 1)).toBe(true);
    } finally {
      await strict.close();
    }
  });

  it('frees its connection when the reader goes away halfway', async () => {
    await appendEventsTx(
      store.db,
      'abandoned',
      Array.from({ length: 3000 }, (_, i) => ({
        type: 'Source Modified',
        actor: { type: 'user', id: `usr_${i}` },
        resource: { type: 'source', id: `src_${i}`, name: 'x'.repeat(200) },
      })),
    );
    // One connection: a COPY left hanging would keep every later query waiting.
    const single = createDb(database.url, { max: 1 });
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const csv = eventsCsv(single, 'abandoned', {});
        for await (const _chunk of csv) break; // reads one chunk, then destroys the stream
      }
      const answer = await Promise.race([
        single.sql`select 1 as ok`.then(() => 'answered'),
        new Promise((resolve) => setTimeout(() => resolve('still held by the export'), 10_000)),
      ]);
      expect(answer).toBe('answered');
    } finally {
      await single.close();
    }
  });
});
