import { createDb, migrateDatabase } from '/work/main/src/store/db.ts';
import { appendEventsTx } from '/work/main/src/store/append.ts';
import { incomingEventSchema } from '/work/main/src/events.ts';
import { createLogger } from '/work/main/src/logger.ts';
import postgres from 'postgres';
const admin = postgres('postgres://postgres@127.0.0.1:5432/postgres');
await admin.unsafe('drop database if exists prof'); await admin.unsafe('create database prof'); await admin.end();
const url = 'postgres://postgres@127.0.0.1:5432/prof';
await migrateDatabase(url, createLogger('silent'));
const db = createDb(url);
const mk = (i: number) => ({ id: `b_${i}_${Math.random()}`, type: 'Source Modified', timestamp: new Date().toISOString(), actor: { type: 'user', id: `usr_${i%50}`, name: 'U', email: 'u@a.com' }, resource: { type: 'source', id: `src_${i%400}`, name: 'S' }, changes: { before: { enabled: true, name: `old ${i}` }, after: { enabled: false, name: `new ${i}` } }, context: { ip: '1.2.3.4', userAgent: 'x' }, metadata: { requestId: `r${i}` } });
for (let round = 0; round < 6; round++) {
  const raw = Array.from({ length: 500 }, (_, i) => mk(round * 500 + i));
  let t = performance.now();
  const parsed = raw.map((e) => incomingEventSchema.parse(e));
  const tv = performance.now() - t;
  t = performance.now();
  await appendEventsTx(db.db, 'p', parsed as never);
  console.log('validate', tv.toFixed(1), 'append', (performance.now() - t).toFixed(1));
}
await db.close();
