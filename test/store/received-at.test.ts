import { connect, createServer, type Server, type Socket } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingEvent } from '../../src/events.ts';
import { EventAppender } from '../../src/store/append.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { verifyChain } from '../../src/store/verify.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

let database: TestDatabase;
let near: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  near = createDb(database.url);
});

afterAll(async () => {
  await near?.close();
  await database?.drop();
});

const event = (n: number): IncomingEvent => ({
  type: 'Source Modified',
  actor: { type: 'user', id: 'usr_1' },
  resource: { type: 'source', id: `src_${n}` },
});

/**
 * A TCP hop between one appender and Postgres that can hold the appender's next statement containing
 * `marker` until released: a process farther from Postgres, or one descheduled at the wrong moment.
 */
async function gatedProxy(target: URL) {
  let marker: string | undefined;
  let onHeld: (() => void) | undefined;
  const held: { upstream: Socket; chunk: Buffer }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      if (held.length > 0 || (marker && chunk.includes(marker))) {
        held.push({ upstream, chunk });
        onHeld?.();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.port = String((server.address() as { port: number }).port);
  return {
    url: url.toString(),
    /** Resolves once a statement containing `text` is held. */
    hold(text: string): Promise<void> {
      marker = text;
      return new Promise((resolve) => (onHeld = resolve));
    },
    release() {
      marker = undefined;
      onHeld = undefined;
      for (const { upstream, chunk } of held.splice(0)) upstream.write(chunk);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function receivedAlongSeq(workspaceId: string): Promise<{ seq: number; receivedAt: number }[]> {
  const rows = await near.db.execute<{ seq: string; received_at: string }>(
    sql`select seq, received_at::text from events where workspace_id = ${workspaceId} order by seq`,
  );
  // Sessions run in UTC, so the text is "2026-11-25 10:00:00.123+00".
  const parse = (text: string) => Date.parse(text.replace(' ', 'T').replace(/\+00$/, 'Z'));
  return rows.map((row) => ({ seq: Number(row.seq), receivedAt: parse(row.received_at) }));
}

function decreases(rows: { seq: number; receivedAt: number }[]): number[] {
  return rows.flatMap((row, i) => (i > 0 && row.receivedAt < rows[i - 1]!.receivedAt ? [row.seq] : []));
}

describe('receivedAt along a chain', () => {
  it('never decreases along seq with two appenders, even when the one that started first locks last', async () => {
    const proxy = await gatedProxy(new URL(database.url));
    const far = createDb(proxy.url, { max: 1 });
    try {
      const farAppender = new EventAppender(far.db);
      const nearAppender = new EventAppender(near.db);
      await nearAppender.append('two', [event(0)]);
      await far.sql`select 1`; // connected, so the held statement is the append's own

      // The far process starts its append first, then stalls on its way to the chain lock…
      const held = proxy.hold('for update');
      const slow = farAppender.append('two', [event(1)]);
      await held;
      await new Promise((resolve) => setTimeout(resolve, 5));
      // …while the near one appends meanwhile and commits.
      await nearAppender.append('two', [event(2)]);
      proxy.release();
      await slow;

      const rows = await receivedAlongSeq('two');
      expect(rows.map((row) => row.seq)).toEqual([1, 2, 3]);
      expect(decreases(rows)).toEqual([]);
      expect(await verifyChain(near.db, 'two')).toMatchObject({ ok: true, count: 3 });
    } finally {
      await far.close();
      await proxy.close();
    }
  });

  it('never decreases with two busy appenders on two pools', async () => {
    const other = createDb(database.url);
    try {
      const appenders = [new EventAppender(near.db), new EventAppender(other.db)];
      await Promise.all(
        Array.from({ length: 60 }, (_, i) => appenders[i % 2]!.append('busy', [event(i), event(i + 1000)])),
      );
      const rows = await receivedAlongSeq('busy');
      expect(rows).toHaveLength(120);
      expect(decreases(rows)).toEqual([]);
      expect(await verifyChain(near.db, 'busy')).toMatchObject({ ok: true, count: 120 });
    } finally {
      await other.close();
    }
  });

  it('stays at or after the previous event when this process’s clock is behind the one that wrote it', async () => {
    const appender = new EventAppender(near.db);
    await appender.append('skewed', [event(0)]);
    // As if the last append came from a process whose clock runs a minute ahead.
    const ahead = new Date(Date.now() + 60_000).toISOString();
    await near.db.execute(sql`update events set received_at = ${ahead} where workspace_id = 'skewed' and seq = 1`);
    await near.db.execute(sql`update chain_heads set updated_at = ${ahead} where workspace_id = 'skewed'`);
    const [stored] = (await appender.append('skewed', [event(1)])).stored;
    expect(Date.parse(stored!.receivedAt)).toBeGreaterThanOrEqual(Date.parse(ahead));
    expect(stored!.timestamp).toBe(stored!.receivedAt); // no timestamp sent: the receipt time
  });
});
