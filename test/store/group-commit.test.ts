import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingEvent } from '../../src/events.ts';
import { type AppendResult, appendEventsTx, EventAppender } from '../../src/store/append.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { verifyChain } from '../../src/store/verify.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

let database: TestDatabase;
let store: Database;
let holder: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  store = createDb(database.url);
  holder = createDb(database.url, { max: 1 });
  // A failure only Postgres can find (as a check constraint, a trigger or a full disk would be).
  await store.db.execute(
    sql.raw(`
    create function refuse_poison() returns trigger language plpgsql as $$
    begin
      if new.resource_id = 'poison' then raise exception 'poisoned resource'; end if;
      -- A duplicate id that no lookup will find.
      if new.resource_id = 'phantom' then
        raise unique_violation using message = 'phantom duplicate', constraint = 'events_pkey';
      end if;
      return new;
    end $$;
    create trigger refuse_poison before insert on events for each row execute function refuse_poison();`),
  );
});

afterAll(async () => {
  await holder?.close();
  await store?.close();
  await database?.drop();
});

const event = (resourceId: string, id?: string): IncomingEvent => ({
  ...(id && { id }),
  type: 'Source Modified',
  actor: { type: 'user', id: 'usr_1' },
  resource: { type: 'source', id: resourceId },
});

/** Holds the workspace's chain head, so appends queue up behind it and go as one group once released. */
async function holdChainHead(workspaceId: string): Promise<{ release(): Promise<void> }> {
  let release!: () => void;
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = holder.sql.begin(async (tx) => {
    await tx`select 1 from chain_heads where workspace_id = ${workspaceId} for update`;
    locked();
    await new Promise<void>((resolve) => (release = resolve));
  });
  await isLocked;
  return {
    async release() {
      release();
      await holding;
    },
  };
}

async function waitForLockWaiter(): Promise<void> {
  const waiting = async () =>
    (await store.sql`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock'`)[0]!.n;
  await expect.poll(waiting).toBeGreaterThan(0);
}

describe('the group commit', () => {
  it('fails only the request Postgres refuses when several requests share one transaction', async () => {
    const appender = new EventAppender(store.db);
    await appender.append('grouped', [event('first')]); // creates the chain head
    const hold = await holdChainHead('grouped');
    // The first append waits on the lock alone; the next 29 queue and go together once it is released.
    const pending: Promise<AppendResult>[] = [appender.append('grouped', [event('alone', 'evt_alone')])];
    await waitForLockWaiter();
    for (let i = 0; i < 29; i++) {
      const batch =
        i === 13 ? [event('fine-13a', 'evt_13a'), event('poison', 'evt_13p')] : [event(`fine-${i}`, `evt_${i}`)];
      pending.push(appender.append('grouped', batch));
    }
    await hold.release();
    const outcomes = await Promise.allSettled(pending);

    const failed = outcomes.flatMap((outcome, index) => (outcome.status === 'rejected' ? [index] : []));
    expect(failed).toEqual([14]);
    expect(String(((outcomes[14] as PromiseRejectedResult).reason as Error).cause)).toMatch(/poisoned resource/);
    const stored = await store.db.execute<{ id: string }>(
      sql`select id from events where workspace_id = 'grouped' order by seq`,
    );
    const ids = stored.map((row) => row.id);
    expect(ids).toHaveLength(1 + 1 + 28);
    expect(ids).not.toContain('evt_13a'); // the refused request's valid event is not stored either
    expect(ids).not.toContain('evt_13p');
    expect(await verifyChain(store.db, 'grouped')).toMatchObject({ ok: true, count: 30 });
  });

  it('still stores a group in one transaction when nothing fails', async () => {
    const appender = new EventAppender(store.db);
    await appender.append('together', [event('first')]);
    const hold = await holdChainHead('together');
    const pending = [appender.append('together', [event('alone')])];
    await waitForLockWaiter();
    for (let i = 0; i < 10; i++) pending.push(appender.append('together', [event(`r${i}`)]));
    await hold.release();
    const results = await Promise.all(pending);
    expect(results.map((r) => r.stored.length)).toEqual(Array(11).fill(1));
    // One transaction for the ten queued requests: their rows share one xmin.
    const xmins = await store.db.execute<{ n: number }>(
      sql`select count(distinct xmin::text)::int as n from events
          where workspace_id = 'together' and resource_id like 'r%'`,
    );
    expect(xmins[0]!.n).toBe(1);
  });

  it('chains onto what another writer appended since its last group, not onto the head it remembers', async () => {
    const appender = new EventAppender(store.db);
    await appender.append('shared', [event('a')]);
    // Another path (an alert's record, another replica) moves the head meanwhile.
    await appendEventsTx(store.db, 'shared', [event('b')]);
    await appendEventsTx(store.db, 'shared', [event('c')]);
    const [stored] = (await appender.append('shared', [event('d')])).stored;
    expect(stored!.seq).toBe(4);
    expect(await verifyChain(store.db, 'shared')).toMatchObject({ ok: true, count: 4 });
    // And its next group goes onto the head it left.
    expect((await appender.append('shared', [event('e')])).stored[0]!.seq).toBe(5);
    expect(await verifyChain(store.db, 'shared')).toMatchObject({ ok: true, count: 5 });
  });

  it('counts an id stored already as a duplicate and stores the rest of the group, chained without it', async () => {
    const appender = new EventAppender(store.db);
    await appender.append('again', [event('x', 'evt_x')]);
    const pending = [
      appender.append('again', [event('y', 'evt_y'), event('x', 'evt_x'), event('z', 'evt_z')]),
      appender.append('again', [event('w', 'evt_w')]),
    ];
    const [first, second] = await Promise.all(pending);
    expect(first).toMatchObject({ ids: ['evt_y', 'evt_x', 'evt_z'], duplicates: 1 });
    expect(first!.stored.map((e) => [e.id, e.seq])).toEqual([
      ['evt_y', 2],
      ['evt_z', 3],
    ]);
    expect(second!.stored.map((e) => [e.id, e.seq])).toEqual([['evt_w', 4]]);
    expect(await verifyChain(store.db, 'again')).toMatchObject({ ok: true, count: 4 });
  });

  it('fails, rather than retrying for ever, when Postgres reports a stored id that is not there', async () => {
    await expect(appendEventsTx(store.db, 'phantom', [event('phantom', 'evt_phantom')])).rejects.toThrow();
    const appender = new EventAppender(store.db);
    await appender.append('phantom', [event('first')]);
    await expect(appender.append('phantom', [event('phantom', 'evt_phantom')])).rejects.toThrow();
    expect((await appender.append('phantom', [event('after')])).stored).toHaveLength(1);
  });
});
