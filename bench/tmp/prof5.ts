import postgres from 'postgres';
const raw = postgres('postgres://postgres@127.0.0.1:5432/prof');
const ws = 'w' + Math.random();
const esc = (v: string | null) => v === null ? '\\N' : v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
const mk = (i: number) => [ws, `c_${i}`, String(i), 'Source Modified', 'Source', new Date().toISOString(), new Date().toISOString(), 'user', `usr_${i%50}`, 'U', 'u@a.com', 'source', `src_${i%400}`, 'S', JSON.stringify({ before: { enabled: true, name: `old ${i}` }, after: { enabled: false, name: `new ${i}` } }), JSON.stringify({ ip: '1.2.3.4', userAgent: 'x' }), JSON.stringify({ requestId: `r${i}` }), 'h'];
for (let round = 0; round < 8; round++) {
  const text = Array.from({ length: 500 }, (_, i) => mk(round * 1000 + i + 1).map(esc).join('\t')).join('\n') + '\n';
  const t = performance.now();
  await raw.begin(async (sql) => {
    const stream = await sql`copy events (workspace_id, id, seq, type, category, timestamp, received_at, actor_type, actor_id, actor_name, actor_email, resource_type, resource_id, resource_name, changes, context, metadata, hash) from stdin`.writable();
    await new Promise<void>((resolve, reject) => { stream.on('error', reject); stream.on('finish', resolve); stream.end(text); });
  });
  console.log('copy', (performance.now() - t).toFixed(1));
}
await raw.end();
