/** Bulk rows for the export and query benchmarks, made by Postgres itself (their hashes are filler). */
import type postgres from 'postgres';

export const TYPES = [
  'Source Created',
  'Source Enabled',
  'Source Disabled',
  'Source Modified',
  'Source Deleted',
  'Integrations Enabled',
  'Integrations Disabled',
  'Integrations Modified',
  'Warehouses Disabled',
  'Warehouses Modified',
  'Warehouse Run Failed',
  'Tracking Plan Modified',
  'User Removed',
  'Audience Modified',
  'Computed Trait Run Failed',
  'Destination Filters Modified',
];

export async function seedEvents(sql: postgres.Sql, workspaceId: string, count: number): Promise<void> {
  const chunk = 100_000;
  for (let start = 1; start <= count; start += chunk) {
    const end = Math.min(count, start + chunk - 1);
    await sql`
      insert into events (workspace_id, id, seq, type, category, timestamp, received_at, actor_type, actor_id,
        actor_name, actor_email, resource_type, resource_id, resource_name, changes, context, metadata, hash)
      select ${workspaceId}, 'evt_' || g, g,
        (${TYPES}::text[])[1 + (g % ${TYPES.length})::int],
        case when g % 16 < 5 then 'Source' when g % 16 < 8 then 'Integrations' when g % 16 < 11 then 'Warehouses'
             else 'Protocols' end,
        now() - (g * interval '7 seconds'), now(),
        (array['user','user','user','token','system'])[1 + g % 5],
        'usr_' || (g % 200), 'User ' || (g % 200), 'user' || (g % 200) || '@acme.com',
        (array['source','destination','warehouse','tracking_plan'])[1 + g % 4],
        'res_' || (g % 10000), 'Resource ' || (g % 10000),
        jsonb_build_object('before', jsonb_build_object('enabled', true, 'name', 'old ' || g),
                           'after', jsonb_build_object('enabled', false, 'name', 'new ' || g)),
        jsonb_build_object('ip', '203.0.113.' || (g % 255), 'userAgent', 'Mozilla/5.0'),
        jsonb_build_object('requestId', 'req_' || g),
        md5(g::text) || md5(g::text)
      from generate_series(${start}::bigint, ${end}::bigint) g`;
  }
  await sql`insert into chain_heads (workspace_id, seq, hash) values (${workspaceId}, ${count}, 'filler')
    on conflict do nothing`;
  await sql`insert into outbox_cursors (workspace_id, relayed_seq) values (${workspaceId}, ${count})
    on conflict do nothing`;
  await sql`analyze events`;
}
