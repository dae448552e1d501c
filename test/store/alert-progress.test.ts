import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertLag, recordRangeAlerted, rewindOutboxToAlerted } from '../../src/store/alert-progress.ts';
import { appendEventsTx } from '../../src/store/append.ts';
import { prepareOutbox } from '../../src/store/cursors.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { alertProgress, outboxCursors } from '../../src/store/schema/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { sampleEvent } from '../helpers/service.ts';

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

async function progress(workspaceId: string) {
  const [row] = await store.db
    .select({ alertedSeq: alertProgress.alertedSeq, doneAbove: alertProgress.doneAbove })
    .from(alertProgress)
    .where(eq(alertProgress.workspaceId, workspaceId));
  return row;
}

const range = (workspaceId: string, fromSeq: number, toSeq: number) => ({ workspaceId, fromSeq, toSeq });

describe('the alert watermark', () => {
  it('moves only over ranges joined to it, whatever order they finish in', async () => {
    await prepareOutbox(store.db, 'ws-order');
    expect(await recordRangeAlerted(store.db, range('ws-order', 11, 20))).toBe(0);
    expect(await recordRangeAlerted(store.db, range('ws-order', 31, 40))).toBe(0);
    expect(await progress('ws-order')).toEqual({ alertedSeq: 0, doneAbove: '{[11,21),[31,41)}' });
    expect(await recordRangeAlerted(store.db, range('ws-order', 1, 10))).toBe(20);
    expect(await progress('ws-order')).toEqual({ alertedSeq: 20, doneAbove: '{[31,41)}' });
    expect(await recordRangeAlerted(store.db, range('ws-order', 21, 30))).toBe(40);
    expect(await progress('ws-order')).toEqual({ alertedSeq: 40, doneAbove: '{}' });
  });

  it('takes a range recorded twice, or overlapping one already recorded, as nothing new', async () => {
    await prepareOutbox(store.db, 'ws-again');
    await recordRangeAlerted(store.db, range('ws-again', 1, 5));
    expect(await recordRangeAlerted(store.db, range('ws-again', 1, 5))).toBe(5);
    expect(await recordRangeAlerted(store.db, range('ws-again', 3, 8))).toBe(8);
    expect(await recordRangeAlerted(store.db, range('ws-again', 12, 14))).toBe(8);
    expect(await recordRangeAlerted(store.db, range('ws-again', 12, 14))).toBe(8);
    expect(await progress('ws-again')).toEqual({ alertedSeq: 8, doneAbove: '{[12,15)}' });
  });

  it('loses no range when many finish at once', async () => {
    await prepareOutbox(store.db, 'ws-race');
    const ranges = Array.from({ length: 40 }, (_, i) => range('ws-race', i * 5 + 1, i * 5 + 5)).reverse();
    await Promise.all(ranges.map((r) => recordRangeAlerted(store.db, r)));
    expect(await progress('ws-race')).toEqual({ alertedSeq: 200, doneAbove: '{}' });
  });

  it('starts a workspace relayed by an earlier version at its outbox cursor', async () => {
    await store.db.insert(outboxCursors).values({ workspaceId: 'ws-upgraded', relayedSeq: 70 });
    await prepareOutbox(store.db, 'ws-upgraded');
    expect((await progress('ws-upgraded'))?.alertedSeq).toBe(70);
  });

  it('moves the outbox back to it after Redis lost the queue, and counts what is left to alert', async () => {
    await appendEventsTx(store.db, 'ws-rewind', Array.from({ length: 30 }, () => sampleEvent()) as never[]);
    await prepareOutbox(store.db, 'ws-rewind');
    await store.db.update(outboxCursors).set({ relayedSeq: 30 }).where(eq(outboxCursors.workspaceId, 'ws-rewind'));
    await recordRangeAlerted(store.db, range('ws-rewind', 1, 12));
    await recordRangeAlerted(store.db, range('ws-rewind', 21, 30));
    // The only workspace here with a chain head: the others above recorded ranges but stored nothing.
    expect(await alertLag(store.db)).toBe(18);

    const rewound = await store.db.transaction((tx) => rewindOutboxToAlerted(tx));
    expect(rewound.filter((r) => r.workspaceId === 'ws-rewind')).toEqual([range('ws-rewind', 13, 30)]);
    const [cursor] = await store.db.execute<{ relayed_seq: string }>(
      sql`select relayed_seq from outbox_cursors where workspace_id = 'ws-rewind'`,
    );
    expect(Number(cursor!.relayed_seq)).toBe(12);
    await recordRangeAlerted(store.db, range('ws-rewind', 13, 20));
    expect(await alertLag(store.db)).toBe(0);
  });
});
