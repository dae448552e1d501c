import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('configuration', () => {
  it('uses the SPEC defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/audit_trail',
      redisUrl: 'redis://127.0.0.1:6379',
      queuePrefix: 'audit',
      host: '127.0.0.1',
      port: 3000,
      retentionDays: 90,
      rulesDir: './rules',
      logLevel: 'info',
    });
    expect(config.slack.apiUrl).toBe('https://slack.com/api/');
    expect(config.slack.defaultWorkspaceId).toBe('default');
    expect([...config.roles]).toEqual(['api', 'slack', 'worker', 'relay', 'scheduler']);
  });

  it('reports a bad combination even when a variable another check reads is bad too', () => {
    // ROLES is bad: the Slack check cannot run, but the import check does not read ROLES and still must.
    let error: ConfigError | undefined;
    try {
      loadConfig({ ROLES: 'api,web', SEGMENT_PULL_WORKSPACE: 'acme', SLACK_APP_TOKEN: 'bad' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems.map((p) => p.split(':')[0])).toEqual(['SLACK_APP_TOKEN', 'ROLES', 'SEGMENT_PULL_WORKSPACE']);
  });

  it('parses pairs and lists', () => {
    const config = loadConfig({
      INGEST_TOKENS: 'acme:tok1, globex:tok2',
      SLACK_TEAMS: 'T1:acme',
      AUDIT_OWNERS: 'U1,U2',
      ROLES: 'api,relay',
    });
    expect(config.ingestTokens).toEqual([
      { workspaceId: 'acme', token: 'tok1' },
      { workspaceId: 'globex', token: 'tok2' },
    ]);
    expect(config.slack.teams.get('T1')).toBe('acme');
    expect(config.slack.owners).toEqual(['U1', 'U2']);
    expect([...config.roles]).toEqual(['api', 'relay']);
  });

  it('lists every bad variable at once, never echoing a secret', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        PORT: '99999',
        ROLES: 'api,web',
        INGEST_TOKENS: 'no-colon-secret',
        SLACK_BOT_TOKEN: 'xoxp-1',
        REDIS_URL: 'http://x',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems.map((p) => p.split(':')[0])).toEqual([
      'REDIS_URL',
      'PORT',
      'INGEST_TOKENS',
      'SLACK_BOT_TOKEN',
      'ROLES',
    ]);
    expect(error!.message).not.toContain('no-colon-secret');
  });

  it('reads RESOURCE_URLS as resource type → URL template, and names each bad pair', () => {
    const config = loadConfig({
      RESOURCE_URLS: 'warehouse=https://app.segment.com/acme/warehouses/{id}/overview, source=http://intra/src?id={id}',
    });
    expect([...config.resourceUrls]).toEqual([
      ['warehouse', 'https://app.segment.com/acme/warehouses/{id}/overview'],
      ['source', 'http://intra/src?id={id}'],
    ]);
    expect(loadConfig({}).resourceUrls.size).toBe(0);

    let error: ConfigError | undefined;
    try {
      const good = 'warehouse=https://x/{id}';
      const pairs = [good, 'source=https://x/no-id', '=https://x/{id}', 'fn=javascript:alert({id})', 'bare'];
      loadConfig({ RESOURCE_URLS: pairs.join(',') });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.problems).toEqual([
      'RESOURCE_URLS: "source=https://x/no-id" has no {id} in its URL template',
      'RESOURCE_URLS: "=https://x/{id}" is not a resourceType=https://…{id}… pair',
      'RESOURCE_URLS: "fn=javascript:alert({id})" must be an https or http URL template',
      'RESOURCE_URLS: "bare" is not a resourceType=https://…{id}… pair',
    ]);
  });

  it('reads ALERT_MAX_AGE and the Segment import as durations, with the SPEC defaults', () => {
    const off = loadConfig({});
    expect(off.alertMaxAgeMs).toBe(3_600_000);
    expect(off.segment.pull).toBeUndefined();

    const on = loadConfig({ SEGMENT_PULL_WORKSPACE: 'acme', SEGMENT_API_TOKEN: 'sgp_x', ALERT_MAX_AGE: '15m' });
    expect(on.segment.pull).toEqual({ workspaceId: 'acme', intervalMs: 60_000, sinceMs: 90 * 86_400_000 });
    expect(on.alertMaxAgeMs).toBe(900_000);
    const tuned = loadConfig({
      SEGMENT_PULL_WORKSPACE: 'acme',
      SEGMENT_API_TOKEN: 'sgp_x',
      SEGMENT_PULL_INTERVAL: '1s',
      SEGMENT_PULL_SINCE: '7d',
    });
    expect(tuned.segment.pull).toMatchObject({ intervalMs: 1000, sinceMs: 7 * 86_400_000 });
  });

  it('refuses the import without a Public API token, and durations that are not durations or too short', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        SEGMENT_PULL_WORKSPACE: 'acme',
        SEGMENT_PULL_INTERVAL: '500ms',
        SEGMENT_PULL_SINCE: 'forever',
        ALERT_MAX_AGE: '0h',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toEqual([
      expect.stringMatching(/^SEGMENT_PULL_INTERVAL: "500ms" is not a duration/),
      expect.stringMatching(/^SEGMENT_PULL_SINCE: "forever" is not a duration/),
      expect.stringMatching(/^ALERT_MAX_AGE: "0h" is not a duration/),
      'SEGMENT_PULL_WORKSPACE: the Segment import needs SEGMENT_API_TOKEN ' +
        '(a Public API token allowed to read the Audit Trail)',
    ]);
    expect(() =>
      loadConfig({ SEGMENT_PULL_WORKSPACE: 'acme', SEGMENT_API_TOKEN: 't', SEGMENT_PULL_INTERVAL: '0s' }),
    ).toThrow(/SEGMENT_PULL_INTERVAL/);
    // The CLI runs no import, so it does not need the token.
    expect(loadConfig({ SEGMENT_PULL_WORKSPACE: 'acme' }, { for: 'cli' }).segment.pull?.workspaceId).toBe('acme');
  });
});
