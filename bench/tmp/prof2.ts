import postgres from 'postgres';
import { createDb } from '/work/main/src/store/db.ts';
import { events } from '/work/main/src/store/schema/index.ts';
import { eventToRow } from '/work/main/src/store/rows.ts';
const db = createDb('postgres://postgres@127.0.0.1:5432/prof');
const raw = postgres('postgres://postgres@127.0.0.1:5432/prof');
const ws = 'w' + Math.random();
const mk = (i: number) => ({ id: `c_${i}`, workspaceId: ws, seq: i, type: 'Source Modified', category: 'Source', timestamp: new Date().toISOString(), receivedAt: new Date().toISOString(), actor: { type: 'user' as const, id: `usr_${i%50}`, name: 'U', email: 'u@a.com' }, resource: { type: 'source', id: `src_${i%400}`, name: 'S' }, changes: { before: { enabled: true, name: `old ${i}` }, after: { enabled: false, name: `new ${i}` } }, context: { ip: '1.2.3.4', userAgent: 'x' }, metadata: { requestId: `r${i}` }, hash: 'h' });
for (let round = 0; round < 5; round++) {
  const rows = Array.from({ length: 500 }, (_, i) => eventToRow(mk(round * 1000 + i + 1)));
  let t = performance.now();
  const q = db.db.insert(events).values(rows);
  q.toSQL();
  const tb = performance.now() - t;
  t = performance.now();
  await q;
  const te = performance.now() - t;
  const rows2 = Array.from({ length: 500 }, (_, i) => mk(round * 1000 + 500 + i + 1));
  t = performance.now();
  await raw`insert into events ${raw(rows2.map(r => ({ workspace_id: r.workspaceId, id: r.id, seq: r.seq, type: r.type, category: r.category, timestamp: r.timestamp, received_at: r.receivedAt, actor_type: r.actor.type, actor_id: r.actor.id, actor_name: r.actor.name, actor_email: r.actor.email, resource_type: r.resource.type, resource_id: r.resource.id, resource_name: r.resource.name, changes: JSON.stringify(r.changes), context: JSON.stringify(r.context), metadata: JSON.stringify(r.metadata), hash: r.hash })))}`;
  const tr = performance.now() - t;
  console.log('drizzle build', tb.toFixed(1), 'exec', te.toFixed(1), 'raw pgjs', tr.toFixed(1));
}
await db.close(); await raw.end();
