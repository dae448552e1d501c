/**
 * The owner check against Slack's usergroups.users.list (the fake Slack over HTTP, the real Web API client): members
 * are cached briefly, the last list stands in while Slack cannot answer, and only for a bounded time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { createSlackClient } from '../../src/slack/client.ts';
import { createOwnerCheck } from '../../src/slack/owners.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';

let slack: FakeSlack;

beforeAll(async () => {
  slack = await startFakeSlack({ usergroups: { S0OWNERS: ['U0ALICE'] } });
});

afterAll(async () => {
  await slack.close();
});

function ownerCheck(timing: { cacheMs: number; staleMs: number }) {
  const logger = createLogger('silent');
  const client = createSlackClient(slack.botToken, slack.url, logger, { retryConfig: { retries: 0 } });
  return createOwnerCheck({ client, owners: ['U0ROOT'], ownerGroup: 'S0OWNERS', logger, ...timing });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('owner check', () => {
  it('answers from the last list read while Slack fails, then fails closed once that list is too old', async () => {
    const owners = ownerCheck({ cacheMs: 0, staleMs: 400 });
    expect(await owners.isOwner('U0ALICE')).toBe(true);

    slack.failNext('usergroups.users.list', { error: 'fatal_error' });
    expect(await owners.isOwner('U0ALICE')).toBe(true);

    await sleep(500);
    slack.failNext('usergroups.users.list', { error: 'fatal_error' });
    expect(await owners.isOwner('U0ALICE')).toBe(false);
    // AUDIT_OWNERS do not depend on Slack.
    expect(await owners.isOwner('U0ROOT')).toBe(true);

    // Slack answering again restores the group.
    expect(await owners.isOwner('U0ALICE')).toBe(true);
  });

  it('makes nobody an owner through the group when the first lookup fails', async () => {
    const owners = ownerCheck({ cacheMs: 60_000, staleMs: 60_000 });
    slack.failNext('usergroups.users.list', { error: 'fatal_error' });
    expect(await owners.isOwner('U0ALICE')).toBe(false);
    expect(await owners.isOwner('U0ALICE')).toBe(true);
  });
});
