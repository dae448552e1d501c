import { readFileSync } from 'node:fs';
import webApi from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERT_OUTCOMES } from '../src/metrics.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { type FakeSlack, startFakeSlack } from './helpers/fake-slack.ts';
import { rulesDir } from './helpers/rules-dir.ts';
import { logCapture, postEvents, sampleEvent, startTestService, type TestService } from './helpers/service.ts';

// Not a name Node's ESM loader detects in this CommonJS package.
const { retryPolicies } = webApi;

let database: TestDatabase;
let slack: FakeSlack;
let app: TestService;
let token: string;
const logs = logCapture();
const rules = rulesDir({
  'warehouse-disabled.yml': 'when: { type: [Warehouses Disabled] }\nchannel: "#data-alerts"\nseverity: critical\n',
  'run-failed.yml':
    'when: { type: [Warehouse Run Failed] }\nthrottle: { within: 15m, by: resource.id }\n' +
    'channel: "#runs"\nseverity: warning\n',
  'user-removed.yml': 'when: { type: [User Removed] }\nchannel: "#people"\nseverity: info\n',
});

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack();
  app = await startTestService(
    database.url,
    { ROLES: 'api,relay,worker', SLACK_BOT_TOKEN: slack.botToken, SLACK_API_URL: slack.url, RULES_DIR: rules.dir },
    { slackMinIntervalMs: 10, slackRetryConfig: retryPolicies.rapidRetryPolicy, logStream: logs.stream },
  );
  token = await app.token('metrics-ws');
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await database?.drop();
  rules.remove();
});

/** Every sample of the Prometheus text, as `name{label="value",…}` (labels sorted) → value. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    found.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]));
  }
  return found;
}

async function scrape(): Promise<Map<string, number>> {
  const response = await fetch(`${app.url}/metrics`);
  expect(response.status).toBe(200);
  return samples(await response.text());
}

const alerts = (rule: string, outcome: string) => `audit_alerts_total{outcome="${outcome}",rule="${rule}"}`;

describe('metrics', () => {
  it("exposes Node's default metrics under their standard names, with no prefix", async () => {
    const names = [...(await scrape()).keys()].map((key) => key.slice(0, key.indexOf('{')));
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(names).toContain(name);
    }
    expect(names.filter((name) => name.startsWith('audit_process_') || name.startsWith('audit_nodejs_'))).toEqual([]);
  });

  it('has every series whose labels are known at 0 from the start, one per loaded rule and outcome', async () => {
    const metrics = await scrape();
    for (const rule of ['warehouse-disabled', 'run-failed', 'user-removed']) {
      for (const outcome of ALERT_OUTCOMES) expect(metrics.get(alerts(rule, outcome)), `${rule} ${outcome}`).toBe(0);
    }
    for (const outcome of ['accepted', 'duplicate', 'rejected'])
      expect(metrics.get(`audit_ingest_events_total{outcome="${outcome}"}`)).toBe(0);
    for (const severity of ['critical', 'warning', 'info'])
      expect(metrics.get(`audit_alert_latency_seconds_count{severity="${severity}"}`)).toBe(0);
    for (const outcome of ['delivered', 'failed'])
      expect(metrics.get(`audit_forwarding_events_total{outcome="${outcome}"}`)).toBe(0);
    for (const outcome of ['delivered', 'failed', 'retried'])
      expect(metrics.get(`audit_forwarding_batches_total{outcome="${outcome}"}`)).toBe(0);
    expect(metrics.get('audit_outbox_relayed_total{}')).toBe(0);
  });

  it('counts what became of each rule match, per rule: posted, throttled, failed', async () => {
    slack.failNext('chat.postMessage', { error: 'channel_not_found' });
    // The refused one first, so the failNext above lands on it.
    expect((await postEvents(app.url, token, sampleEvent({ type: 'User Removed' }))).status).toBe(201);
    await expect.poll(async () => (await scrape()).get(alerts('user-removed', 'failed')), { timeout: 10_000 }).toBe(1);
    const runFailed = { type: 'Warehouse Run Failed', resource: { type: 'warehouse', id: 'wh_throttled' } };
    const sent = await postEvents(app.url, token, {
      events: [sampleEvent(), sampleEvent(runFailed), sampleEvent(runFailed)],
    });
    expect(sent.status).toBe(201);

    await expect
      .poll(
        async () => {
          const metrics = await scrape();
          return [
            alerts('warehouse-disabled', 'posted'),
            alerts('run-failed', 'posted'),
            alerts('run-failed', 'throttled'),
          ].map((key) => metrics.get(key));
        },
        { timeout: 10_000 },
      )
      .toEqual([1, 1, 1]);
    const metrics = await scrape();
    expect(metrics.get(alerts('warehouse-disabled', 'throttled'))).toBe(0);
    expect(metrics.get(alerts('user-removed', 'posted'))).toBe(0);
    expect(metrics.get('audit_ingest_events_total{outcome="accepted"}')).toBe(4);
    expect(metrics.get('audit_alert_latency_seconds_count{severity="critical"}')).toBe(1);
  });

  it("has every metric the Grafana dashboard queries (but the Segment import's, which that feature adds)", async () => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    const families = new Set([...text.matchAll(/^# TYPE (\S+) (\w+)$/gm)].map(([, name]) => name!));
    const dashboard = readFileSync('docs/grafana/audit-trail.json', 'utf8');
    const queried = new Set(
      [...dashboard.matchAll(/\b((?:audit|process|nodejs)_[a-z0-9_]+)\b/g)].map(([, name]) => name!),
    );
    const family = (name: string) =>
      [name, name.replace(/_(bucket|count|sum)$/, '')].find((candidate) => families.has(candidate));
    const unknown = [...queried].filter((name) => !family(name) && !name.startsWith('audit_import_'));
    expect(queried.size).toBeGreaterThan(10);
    expect(unknown).toEqual([]);
  });

  it('has each of its own metrics described in the operations guide', async () => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    const own = [...text.matchAll(/^# TYPE (audit_\S+) /gm)].map(([, name]) => name!);
    const operations = readFileSync('docs/operations.md', 'utf8');
    expect(own.length).toBeGreaterThan(5);
    expect(own.filter((name) => !operations.includes(`\`${name}`))).toEqual([]);
  });

  it('reports a rule added while running at 0, without waiting for it to match', async () => {
    rules.write('source-deleted.yml', 'when: { type: [Source Deleted] }\nchannel: "#sources"\nseverity: warning\n');
    await expect
      .poll(async () => (await scrape()).get(alerts('source-deleted', 'posted')), { timeout: 15_000 })
      .toBe(0);
  });
});

describe('request logs', () => {
  it('logs health, readiness and metrics requests at debug, and API requests at info', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`${app.url}${path}`)).status).toBe(200);
    expect((await fetch(`${app.url}/v1/events`)).status).toBe(401);

    // Fastify's two lines per request: "incoming request" (with req) and "request completed" (same reqId, with res).
    const requestLines = (path: string) => {
      const ids = new Set(
        logs.lines
          .filter((line) => (line.req as { url?: string } | undefined)?.url?.startsWith(path))
          .map((line) => line.reqId),
      );
      return logs.lines.filter((line) => ids.has(line.reqId) && (line.req || line.res));
    };
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const lines = requestLines(path);
      expect(lines.length, path).toBeGreaterThanOrEqual(2);
      expect(lines.map((line) => line.level)).toEqual(lines.map(() => 20));
    }
    const api = requestLines('/v1/events');
    expect(api.length).toBeGreaterThanOrEqual(2);
    expect(api.map((line) => line.level)).toEqual(api.map(() => 30));
  });
});
