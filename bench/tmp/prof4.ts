import { sql } from 'drizzle-orm';
import { createDb } from '/work/main/src/store/db.ts';
import { chainHash } from '/work/main/src/store/chain.ts';
const db = createDb('postgres://postgres@127.0.0.1:5432/prof');
const ws = 'w' + Math.random();
const mk = (i: number) => ({ workspace_id: ws, id: `c_${i}`, seq: i, type: 'Source Modified', category: 'Source', timestamp: new Date().toISOString(), received_at: new Date().toISOString(), actor_type: 'user', actor_id: `usr_${i%50}`, actor_name: 'U', actor_email: 'u@a.com', resource_type: 'source', resource_id: `src_${i%400}`, resource_name: 'S', changes: { before: { enabled: true, name: `old ${i}` }, after: { enabled: false, name: `new ${i}` } }, context: { ip: '1.2.3.4', userAgent: 'x' }, metadata: { requestId: `r${i}` }, hash: 'h' });
for (let round = 0; round < 8; round++) {
  const rows = Array.from({ length: 500 }, (_, i) => mk(round * 1000 + i + 1));
  const times: string[] = [];
  let t = performance.now();
  const lap = (n: string) => { times.push(`${n} ${(performance.now() - t).toFixed(1)}`); t = performance.now(); };
  let h = '0';
  for (const r of rows) h = chainHash(h, r as never);
  lap('hash');
  const json = JSON.stringify(rows);
  lap('stringify');
  await db.db.transaction(async (tx) => {
    await tx.execute(sql`select 1`);
    lap('begin');
    await tx.transaction(async (sp) => {
      await sp.execute(sql`insert into events select r.* from jsonb_to_recordset(${json}::jsonb) as r(workspace_id text, id text, seq bigint, type text, category text, timestamp timestamptz, received_at timestamptz, actor_type text, actor_id text, actor_name text, actor_email text, resource_type text, resource_id text, resource_name text, changes jsonb, context jsonb, metadata jsonb, hash text) on conflict do nothing returning id`);
      lap('insert');
    });
    lap('release');
  });
  lap('commit');
  console.log(times.join('  '));
}
await db.close();
