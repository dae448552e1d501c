import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createWindowSimulator,
  type ReplayOptions,
  type ReplaySummary,
  replayRules,
  type WouldBeAlert,
} from '../../src/alerting/replay.ts';
import { loadRules } from '../../src/alerting/rule-loader.ts';
import type { Rule } from '../../src/alerting/rules/types.ts';
import { runRulesTest } from '../../src/cli/rules-test.ts';
import { incomingEventSchema, type StoredEvent } from '../../src/events.ts';
import { appendEventsTx } from '../../src/store/append.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { sampleEvent } from '../helpers/service.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

let database: TestDatabase;
let store: Database;
let rulesRoot: string;
let rulesDirs = 0;

beforeAll(async () => {
  database = await createTestDatabase();
  store = createDb(database.url, { max: 2 });
  rulesRoot = await mkdtemp(path.join(tmpdir(), 'audit-rules-test-'));
});

afterAll(async () => {
  await store?.close();
  await database?.drop();
  if (rulesRoot) await rm(rulesRoot, { recursive: true, force: true });
});

/** A fresh rules directory holding `files` (name → YAML). */
async function rulesDir(files: Record<string, string>): Promise<string> {
  rulesDirs += 1;
  const dir = path.join(rulesRoot, `rules-${rulesDirs}`);
  await mkdir(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

async function rulesFrom(files: Record<string, string>): Promise<Rule[]> {
  const { rules, problems } = await loadRules(await rulesDir(files));
  expect(problems).toEqual([]);
  return rules;
}

/** Stores events in one workspace, each a sampleEvent with the given overrides. */
async function storeEvents(workspaceId: string, overrides: Record<string, unknown>[]): Promise<StoredEvent[]> {
  const { stored } = await appendEventsTx(
    store.db,
    workspaceId,
    overrides.map((fields) => incomingEventSchema.parse(sampleEvent(fields))),
  );
  return stored;
}

async function replay(
  rules: readonly Rule[],
  options: ReplayOptions,
): Promise<{ alerts: WouldBeAlert[]; summary: ReplaySummary }> {
  const alerts: WouldBeAlert[] = [];
  const iterator = replayRules(store.db, rules, options);
  for (let step = await iterator.next(); ; step = await iterator.next()) {
    if (step.done) return { alerts, summary: step.value };
    alerts.push(step.value);
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `npm run rules:test -- …` the way an operator does, in a child process from the repository
 * root. REDIS_URL points at a closed port: a replay must never need Redis.
 */
function rulesTest(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/rules-test.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, DATABASE_URL: database.url, REDIS_URL: 'redis://127.0.0.1:1', RULES_DIR: undefined },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The same command in this process, for the cases that need no process boundary. */
async function rulesTestInProcess(args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runRulesTest(
    args,
    { DATABASE_URL: database.url },
    { out: (line) => out.push(line), err: (line) => err.push(line) },
  );
  return { code, stdout: out.map((line) => `${line}\n`).join(''), stderr: err.map((line) => `${line}\n`).join('') };
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('createWindowSimulator', () => {
  const T0 = Date.parse('2026-11-25T10:00:00.000Z');

  it('fires a threshold exactly once per `count` matches, then needs a fresh count', () => {
    const windows = createWindowSimulator();
    const fired = Array.from({ length: 12 }, (_, i) => i + 1).filter((n) =>
      windows.recordThresholdMatch('r', 'ws:usr_1', T0 + n * 1000, 10 * MINUTE, 5),
    );

    expect(fired).toEqual([5, 10]);
  });

  it('counts only matches within the window of the newest one, both ends included, like the Redis script', () => {
    const windows = createWindowSimulator();
    const record = (at: number) => windows.recordThresholdMatch('r', 'k', T0 + at, 1000, 3);

    expect(record(0)).toBe(false);
    expect(record(600)).toBe(false);
    expect(record(1200)).toBe(false); // 0 is more than a second older than 1200
    expect(record(100)).toBe(false); // late, and already outside the window
    expect(record(1600)).toBe(true); // 600, 1200 and 1600: exactly a second apart still counts
  });

  it('keeps threshold groups and rules apart', () => {
    const windows = createWindowSimulator();

    expect(windows.recordThresholdMatch('r', 'a', T0, MINUTE, 2)).toBe(false);
    expect(windows.recordThresholdMatch('r', 'b', T0, MINUTE, 2)).toBe(false);
    expect(windows.recordThresholdMatch('other', 'a', T0, MINUTE, 2)).toBe(false);
    expect(windows.recordThresholdMatch('r', 'a', T0 + 1, MINUTE, 2)).toBe(true);
  });

  it('holds a throttle for the window after an alert, up to and including its last millisecond', () => {
    const windows = createWindowSimulator();

    expect(windows.acquireThrottle('r', 'k', T0, MINUTE)).toBe(true);
    expect(windows.acquireThrottle('r', 'k', T0 + 30_000, MINUTE)).toBe(false);
    expect(windows.acquireThrottle('r', 'k', T0 + MINUTE, MINUTE)).toBe(false);
    expect(windows.acquireThrottle('r', 'other', T0 + 1, MINUTE)).toBe(true);
    expect(windows.acquireThrottle('r', 'k', T0 + MINUTE + 1, MINUTE)).toBe(true);
    expect(windows.acquireThrottle('r', 'k', T0 + MINUTE + 2, MINUTE)).toBe(false);
  });
});

describe('replayRules', () => {
  it('fires a threshold once, at the Nth match within the window, and never for spread-out matches', async () => {
    const rules = await rulesFrom({
      'burst.yml':
        'id: burst\nwhen: { type: [Source Deleted] }\n' +
        'threshold: { count: 3, within: 10m, by: actor.id }\nchannel: "#alerts"\nseverity: critical\n',
    });
    const t0 = Date.now() - DAY;
    const deletion = (actorId: string, minutes: number) => ({
      type: 'Source Deleted',
      actor: { type: 'user', id: actorId },
      resource: { type: 'source', id: `src_${actorId}_${minutes}` },
      timestamp: iso(t0 + minutes * MINUTE),
    });
    const stored = await storeEvents('threshold-ws', [
      deletion('usr_fast', 0),
      deletion('usr_fast', 1),
      deletion('usr_fast', 2), // the third within 10 minutes: fires
      deletion('usr_fast', 3), // a new count starts: 1
      deletion('usr_fast', 4), // 2
      deletion('usr_slow', 0),
      deletion('usr_slow', 6),
      deletion('usr_slow', 12), // 0 is 12 minutes back: only 2 in the window
      deletion('usr_slow', 30),
    ]);

    const { alerts, summary } = await replay(rules, { since: new Date(t0 - MINUTE), workspaceId: 'threshold-ws' });

    expect(alerts.map(({ rule, event, reason }) => [rule.id, event.id, reason])).toEqual([
      ['burst', stored[2]!.id, 'threshold'],
    ]);
    expect(summary).toEqual({ events: 9, alerts: 1, throttled: 0 });
  });

  it('suppresses repeats of a throttled rule and group within the window, by event time', async () => {
    const rules = await rulesFrom({
      'failures.yml':
        'id: failures\nwhen: { type: [Warehouse Run Failed] }\n' +
        'throttle: { within: 15m, by: resource.id }\nchannel: "#alerts"\nseverity: warning\n',
    });
    const t0 = Date.now() - DAY;
    const failure = (warehouseId: string, minutes: number) => ({
      type: 'Warehouse Run Failed',
      actor: { type: 'system', id: 'scheduler' },
      resource: { type: 'warehouse', id: warehouseId },
      timestamp: iso(t0 + minutes * MINUTE),
    });
    // Stored out of time order: the replay must still walk them by event time.
    const stored = await storeEvents('throttle-ws', [
      failure('wh_1', 16), // 16 minutes after the first alert: alerts again
      failure('wh_1', 0), // alerts
      failure('wh_1', 5), // held back
      failure('wh_2', 1), // another warehouse: alerts
      failure('wh_1', 15), // held back: the window includes its last moment
    ]);

    const { alerts, summary } = await replay(rules, { since: new Date(t0 - MINUTE), workspaceId: 'throttle-ws' });

    expect(alerts.map(({ event }) => event.id)).toEqual([stored[1]!.id, stored[3]!.id, stored[0]!.id]);
    expect(alerts.every(({ reason }) => reason === 'match')).toBe(true);
    expect(summary).toEqual({ events: 5, alerts: 3, throttled: 2 });
  });

  it('reads every event once, in (timestamp, seq) order, across pages with equal timestamps', async () => {
    const rules = await rulesFrom({
      'everything.yml': 'id: everything\nwhen: {}\nchannel: "#alerts"\nseverity: info\n',
    });
    const t0 = Date.now() - DAY;
    const stored = await storeEvents('paging-ws', [
      ...Array.from({ length: 5 }, () => ({ timestamp: iso(t0 + MINUTE) })),
      { timestamp: iso(t0) },
      { timestamp: iso(t0 + 2 * MINUTE) },
    ]);

    const { alerts, summary } = await replay(rules, {
      since: new Date(t0 - MINUTE),
      workspaceId: 'paging-ws',
      pageSize: 2,
    });

    expect(alerts.map(({ event }) => event.seq)).toEqual([6, 1, 2, 3, 4, 5, 7]);
    expect(new Set(alerts.map(({ event }) => event.id))).toEqual(new Set(stored.map((event) => event.id)));
    expect(summary.events).toBe(7);
  });

  it('never fires a disabled rule, even one that matches every event', async () => {
    const rules = await rulesFrom({
      'muted.yml': 'id: muted\nenabled: false\nwhen: {}\nchannel: "#alerts"\nseverity: critical\n',
      'live.yml': 'id: live\nwhen: { type: [Source Deleted] }\nchannel: "#alerts"\nseverity: critical\n',
    });
    const t0 = Date.now() - DAY;
    await storeEvents('disabled-ws', [
      { type: 'Source Deleted', resource: { type: 'source', id: 'src_1' }, timestamp: iso(t0) },
      { timestamp: iso(t0 + MINUTE) },
    ]);

    const { alerts } = await replay(rules, { since: new Date(t0 - MINUTE), workspaceId: 'disabled-ws' });

    expect(alerts.map(({ rule }) => rule.id)).toEqual(['live']);
  });
});

describe('rules:test', () => {
  it('prints the alert a matching rule would have fired, and a summary', async () => {
    const dir = await rulesDir({
      'warehouse-watch.yml': [
        'id: warehouse-watch',
        'when:',
        '  type: [Warehouses Disabled]',
        '  resource: { id: [wh_printed] }',
        'channel: "#data-alerts"',
        'severity: critical',
        '',
      ].join('\n'),
    });
    const at = Date.now() - DAY;
    const [event] = await storeEvents('print-ws', [
      { resource: { type: 'warehouse', id: 'wh_printed' }, actor: { type: 'user', id: 'usr_9' }, timestamp: iso(at) },
      { resource: { type: 'warehouse', id: 'wh_other' }, timestamp: iso(at + MINUTE) },
    ]);
    const since = iso(at - DAY);

    const run = await rulesTest(['--since', since, '--workspace', 'print-ws', '--rules', dir]);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `${iso(at)}  warehouse-watch  critical  #data-alerts  Warehouses Disabled  ` +
        `warehouse/wh_printed  by user:usr_9  (print-ws/${event!.id})\n` +
        `1 alert would have fired from 2 events since ${since} (rules: warehouse-watch=1)\n`,
    );
  });

  it('leaves out events older than --since, 30 days by default', async () => {
    const dir = await rulesDir({
      'old-and-new.yml': 'id: old-and-new\nwhen: { resource: { id: [wh_aged] } }\nchannel: "#alerts"\nseverity: info\n',
    });
    const [old, recent] = await storeEvents('since-ws', [
      { resource: { type: 'warehouse', id: 'wh_aged' }, timestamp: iso(Date.now() - 40 * DAY) },
      { resource: { type: 'warehouse', id: 'wh_aged' }, timestamp: iso(Date.now() - 2 * DAY) },
    ]);

    const byDefault = await rulesTest(['--workspace', 'since-ws', '--rules', dir]);
    const wider = await rulesTestInProcess(['--since', '60d', '--workspace', 'since-ws', '--rules', dir]);

    expect(byDefault.code).toBe(0);
    expect(byDefault.stdout).toContain(`(since-ws/${recent!.id})`);
    expect(byDefault.stdout).not.toContain(old!.id);
    expect(byDefault.stdout).toMatch(/^1 alert would have fired from 1 event since \S+ \(rules: old-and-new=1\)$/m);
    expect(wider.stdout).toContain(`(since-ws/${old!.id})`);
    expect(wider.stdout).toMatch(/^2 alerts would have fired from 2 events since /m);
  });

  it('replays only the workspace given with --workspace, and every workspace without it', async () => {
    const dir = await rulesDir({
      'shared.yml': 'id: shared\nwhen: { resource: { id: [wh_shared] } }\nchannel: "#alerts"\nseverity: warning\n',
    });
    const at = iso(Date.now() - DAY);
    const [inA] = await storeEvents('ws-a', [{ resource: { type: 'warehouse', id: 'wh_shared' }, timestamp: at }]);
    const [inB] = await storeEvents('ws-b', [{ resource: { type: 'warehouse', id: 'wh_shared' }, timestamp: at }]);

    const one = await rulesTestInProcess(['--workspace', 'ws-a', '--rules', dir]);
    const all = await rulesTestInProcess(['--rules', dir]);

    expect(one.code).toBe(0);
    expect(one.stdout).toContain(`(ws-a/${inA!.id})`);
    expect(one.stdout).not.toContain('(ws-b/');
    expect(all.stdout).toContain(`(ws-a/${inA!.id})`);
    expect(all.stdout).toContain(`(ws-b/${inB!.id})`);
    expect(all.stdout).toMatch(/^2 alerts would have fired from \d+ events since \S+ \(rules: shared=2\)$/m);
  });

  it('says so when no alert would have fired', async () => {
    const dir = await rulesDir({ 'quiet.yml': 'id: quiet\nenabled: false\nwhen: {}\nchannel: "#alerts"\n' });
    await storeEvents('quiet-ws', [{ timestamp: iso(Date.now() - DAY) }, { timestamp: iso(Date.now() - 2 * DAY) }]);
    const since = iso(Date.now() - 7 * DAY);

    const run = await rulesTestInProcess(['--since', since, '--workspace', 'quiet-ws', '--rules', dir]);

    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`no alerts would have fired from 2 events since ${since}\n`);
  });

  it('prints file:line: message for invalid rules and exits 1 without replaying', async () => {
    const dir = await rulesDir({
      'typo.yml': 'id: typo\nwhen:\n  type: [Warehouses Disbled]\nchannel: "#alerts"\n',
      'bad-window.yml': 'id: bad-window\nwhen: {}\nthrottle: { within: 10mins }\nchannel: "#alerts"\n',
    });

    const run = await rulesTest(['--rules', dir]);

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`${path.join(dir, 'typo.yml')}:3: `);
    expect(run.stderr).toContain('did you mean "Warehouses Disabled"?');
    expect(run.stderr).toContain(`${path.join(dir, 'bad-window.yml')}:3: `);
    expect((await rulesTestInProcess(['--rules', path.join(dir, 'missing')])).code).toBe(1);
  });

  it('explains a usage mistake and exits 2', async () => {
    const badSince = await rulesTestInProcess(['--since', 'last week']);
    const unknown = await rulesTestInProcess(['--sinse', '7d']);

    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toContain('--since "last week" is not an ISO date or time');
    expect(badSince.stderr).toContain('usage: npm run rules:test');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--sinse'");
  });
});
