/**
 * Alert storms against the compiled service, with Slack's real pace (one post a second per channel, chat.update about
 * 50 a minute): how soon a 500-event storm's grouped message shows all 500 after its last event, how soon a critical
 * event sent right behind it is posted, the same for a storm of a rule without `group` (storm protection), and a
 * Revert all of the 500 against a fake Segment that answers in 50 ms under a rate limit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type postgres from 'postgres';
import { startFakeSegment } from '../test/helpers/fake-segment.ts';
import { type FakeMessage, type FakeSlack, startFakeSlack } from '../test/helpers/fake-slack.ts';
import { blockActionBody, postToSlackEndpoint } from '../test/helpers/slack-requests.ts';
import { createBenchDatabase, fmt, line, startServiceProcess } from './harness.ts';

const STORM = Number(process.env.BENCH_STORM_EVENTS ?? 500);
/** The storm as a script sends it: batches back to back. */
const BATCH = 50;
const SIGNING_SECRET = 'bench-signing-secret';
const OWNER = 'U0BENCHOWNER';
const SEGMENT_LATENCY_MS = 50;
/** The fake Segment's rate limit for the Revert all: requests per window. */
const SEGMENT_LIMIT = { requests: 20, windowMs: 1000 };

const RULES = {
  'grouped.yml':
    'when: { type: [Source Disabled] }\ngroup: { within: 5m, by: actor.id }\nchannel: "#storm"\n' +
    'severity: warning\nrevert: true\n',
  'critical.yml': 'when: { type: [Warehouses Disabled] }\nchannel: "#storm"\nseverity: critical\n',
  'ungrouped.yml': 'when: { type: [Integrations Disabled] }\nchannel: "#flood"\nseverity: warning\n',
  'critical-flood.yml': 'when: { type: [Warehouses Deleted] }\nchannel: "#flood"\nseverity: critical\n',
};

export async function benchStorms(): Promise<void> {
  const slack = await startFakeSlack();
  const segment = await startFakeSegment({ rateLimit: SEGMENT_LIMIT });
  segment.setDelay('*', SEGMENT_LATENCY_MS);
  const db = await createBenchDatabase();
  const rulesDir = mkdtempSync(join(tmpdir(), 'bench-storm-rules-'));
  for (const [name, text] of Object.entries(RULES)) writeFileSync(join(rulesDir, name), text);
  for (const channel of ['#storm', '#flood']) slack.channelId(channel);
  const service = await startServiceProcess({
    DATABASE_URL: db.url,
    INGEST_TOKENS: 'bench:storm-token-1',
    QUEUE_PREFIX: `benchstorms${process.pid}`,
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.url,
    SLACK_TEAMS: `${slack.teamId}:bench`,
    AUDIT_OWNERS: OWNER,
    SEGMENT_API_URL: segment.publicApiUrl,
    SEGMENT_API_TOKEN: segment.apiToken,
    RULES_DIR: rulesDir,
  });
  const post = async (events: Record<string, unknown>[]) => {
    const response = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: 'Bearer storm-token-1', 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    if (response.status !== 201) throw new Error(`ingest answered ${response.status}`);
    await response.arrayBuffer();
  };
  try {
    line(
      `storms   Slack pace as in production: 1 post/s per channel, 1 chat.update per 1.2 s; ` +
        `${STORM}-event storms sent in batches of ${BATCH}`,
    );

    // 1. A rule with `group`: one message, updated in place.
    const sources = Array.from({ length: STORM }, (_, i) => `src_${i}`);
    for (const id of sources) segment.setSource({ id, enabled: false });
    const storm = sources.map((id) => ({
      type: 'Source Disabled',
      actor: { type: 'token', id: 'tok_storm', name: 'CI token' },
      resource: { type: 'source', id },
    }));
    const grouped = await runStorm(slack, db.sql, post, storm, '#storm', {
      type: 'Warehouses Disabled',
      actor: { type: 'user', id: 'usr_1' },
      resource: { type: 'warehouse', id: 'wh_1' },
    });
    line(`storms   group: { within: 5m, by: actor.id }: ${describe(grouped, 'message shows')}`);

    // 2. A rule without `group`: storm protection collapses what waits.
    const flood = Array.from({ length: STORM }, (_, i) => ({
      type: 'Integrations Disabled',
      actor: { type: 'token', id: 'tok_flood' },
      resource: { type: 'destination', id: `dst_${i}` },
    }));
    const protectedStorm = await runStorm(slack, db.sql, post, flood, '#flood', {
      type: 'Warehouses Deleted',
      actor: { type: 'user', id: 'usr_1' },
      resource: { type: 'warehouse', id: 'wh_2' },
    });
    line(`storms   storm protection (no group): ${describe(protectedStorm, 'messages account for all')}`);

    // 3. Revert all of the grouped storm.
    const message = slack.messages('#storm').find((m) => groupCount(m) === STORM)!;
    const revertAll = buttonValue(message, 'audit_revert_all');
    if (!revertAll) throw new Error('the grouped message offers no Revert all');
    const before = segment.callsTo('PATCH /sources').length;
    const clicked = performance.now();
    const response = await postToSlackEndpoint(
      service.url,
      blockActionBody({
        actionId: 'audit_revert_all',
        value: revertAll,
        userId: OWNER,
        teamId: slack.teamId,
        channelId: slack.channelId('#storm'),
        message: { ts: message.ts, blocks: message.blocks ?? [] },
        responseUrl: slack.responseUrl('bench-revert-all'),
      }),
      { secret: SIGNING_SECRET },
    );
    if (response.status !== 200) throw new Error(`the click was answered ${response.status}`);
    const finished = await waitFor(() => {
      const now = slack.messages('#storm').find((m) => m.ts === message.ts);
      return now && /finished/.test(JSON.stringify(now.blocks)) ? now : undefined;
    }, 600_000);
    const seconds = (performance.now() - clicked) / 1000;
    const patches = segment.callsTo('PATCH /sources').slice(before);
    const reverted = new Set(sources.filter((id) => segment.getSource(id)?.enabled === true)).size;
    const limit = SEGMENT_LIMIT.requests / (SEGMENT_LIMIT.windowMs / 1000);
    const ceiling = 4 * (1000 / SEGMENT_LATENCY_MS);
    line(
      `storms   Revert all of ${fmt(STORM)}: ${fmt(seconds, 1)} s, ${fmt(reverted / seconds, 1)} events/s reverted ` +
        `(${reverted} of ${STORM}; ${patches.length} PATCHes, ${segment.rateLimited()} answered 429 and waited out) ` +
        'against a fake ' +
        `Segment answering in ${SEGMENT_LATENCY_MS} ms and allowing ${fmt(limit)} requests/s (4 at a time could make ` +
        `${fmt(ceiling)}/s): bounded by Segment's rate limit, not by us, when events/s is close to ${fmt(limit)}`,
    );
    if (!/finished/.test(JSON.stringify(finished.blocks))) throw new Error('Revert all did not finish');
  } finally {
    await service.stop();
    await db.drop();
    await segment.close();
    await slack.close();
    rmSync(rulesDir, { recursive: true, force: true });
  }
}

type StormTimes = Awaited<ReturnType<typeof runStorm>>;

function describe(times: StormTimes, shown: string): string {
  return (
    `last event → ${shown} ${STORM}: ${fmt(times.showsAllMs)} ms ` +
    `(all alerts claimed by the worker +${fmt(times.claimedMs)} ms; ` +
    `${times.posts} post${times.posts === 1 ? '' : 's'}, ${times.updates} updates); critical behind it → posted: ` +
    `${fmt(times.criticalMs)} ms, of which ${fmt(times.criticalQueuedMs)} ms from its claim (goal ≤ 3,000 ms)`
  );
}

async function runStorm(
  slack: FakeSlack,
  sql: postgres.Sql,
  post: (events: Record<string, unknown>[]) => Promise<void>,
  events: Record<string, unknown>[],
  channel: string,
  critical: Record<string, unknown>,
) {
  const channelId = slack.channelId(channel);
  const postsBefore = slack.callsTo('chat.postMessage').length;
  const updatesBefore = slack.callsTo('chat.update').length;
  for (let i = 0; i < events.length; i += BATCH) await post(events.slice(i, i + BATCH));
  const lastEventAt = performance.now();
  const criticalId = `evt_critical_${channel.slice(1)}`;
  await post([{ id: criticalId, ...critical }]);
  const criticalSentAt = performance.now();
  const criticalPost = await waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .slice(postsBefore)
        .find((c) => JSON.stringify(c.body.blocks).includes(String(critical.type))),
    60_000,
  );
  // The storm is fully shown once its messages account for every event: grouped counts plus alerts posted alone.
  const shown = await waitFor(() => {
    const messages = slack.messages(channel).filter((m) => !JSON.stringify(m.blocks).includes(String(critical.type)));
    const total = messages.reduce((sum, m) => sum + (groupCount(m) ?? 1), 0);
    if (total < events.length) return undefined;
    const calls = [
      ...slack.callsTo('chat.postMessage').slice(postsBefore),
      ...slack.callsTo('chat.update').slice(updatesBefore),
    ];
    return Math.max(
      ...calls.filter((c) => c.body.channel === channel || c.body.channel === channelId).map((c) => c.at),
    );
  }, 120_000);
  const storm = (c: { body: Record<string, unknown> }) => c.body.channel === channel || c.body.channel === channelId;
  // Wall-clock times from Postgres, on this machine's clock, as performance.now() values.
  const toNow = (at: Date) => at.getTime() - performance.timeOrigin;
  const [claims] = await sql<{ last: Date; critical: Date }[]>`
    select max(created_at) filter (where event_id <> ${criticalId}) as last,
           max(created_at) filter (where event_id = ${criticalId}) as critical
    from alerts where channel = ${channel}`;
  return {
    showsAllMs: shown - lastEventAt,
    claimedMs: toNow(claims!.last) - lastEventAt,
    criticalMs: criticalPost.at - criticalSentAt,
    criticalQueuedMs: criticalPost.at - toNow(claims!.critical),
    posts: slack.callsTo('chat.postMessage').slice(postsBefore).filter(storm).length - 1,
    updates: slack.callsTo('chat.update').slice(updatesBefore).filter(storm).length,
  };
}

function groupCount(message: FakeMessage): number | undefined {
  const header = (message.blocks as { type: string; text?: { text: string } }[] | undefined)?.find(
    (b) => b.type === 'header',
  );
  const match = /^([\d,]+) (?:×|alerts:)/.exec(header?.text?.text ?? '');
  return match ? Number(match[1]!.replaceAll(',', '')) : undefined;
}

function buttonValue(message: FakeMessage, actionId: string): string | undefined {
  for (const block of (message.blocks ?? []) as { elements?: { action_id?: string; value?: string }[] }[]) {
    const found = block.elements?.find((e) => e.action_id === actionId);
    if (found) return found.value;
  }
  return undefined;
}

async function waitFor<T>(check: () => T | undefined, timeoutMs: number): Promise<T> {
  const started = performance.now();
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (performance.now() - started > timeoutMs) throw new Error(`gave up after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
