import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { type ServiceProcess, startServiceProcess } from '../helpers/service-process.ts';
import {
  blockActionBody,
  postToSlackEndpoint,
  SIGNING_SECRET,
  sign,
  slackEnv,
  slashCommandBody,
} from '../helpers/slack-requests.ts';

let database: TestDatabase;
let slack: FakeSlack;
let service: ServiceProcess;
const OWNER = 'U0OWNER1';

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack();
  service = await startServiceProcess(database.url, {
    ...slackEnv(slack, { owners: OWNER }),
  });
});

afterAll(async () => {
  await service?.stop();
  await slack?.close();
  await database?.drop();
});

/** After every request: the process is still there and still ready. */
afterEach(async () => {
  expect(service.exited(), service.output()).toBeUndefined();
  expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
});

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const json = (value: unknown) => ({ body: JSON.stringify(value), contentType: 'application/json' });
const post = (body: string, contentType = 'application/x-www-form-urlencoded') =>
  postToSlackEndpoint(service.url, body, { contentType });

async function errorOf(response: Response): Promise<string> {
  const text = await response.text();
  return (JSON.parse(text) as { error: string }).error;
}

describe('a signed request Bolt would crash on', () => {
  it.each([
    ['payload=null', form({ payload: 'null' })],
    ['payload=[]', form({ payload: '[]' })],
    ['payload="text"', form({ payload: '"text"' })],
    ['payload=7', form({ payload: '7' })],
  ])('answers the form body %s with 400 and keeps running', async (_name, body) => {
    const response = await post(body);
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/payload must be a JSON object/);
  });

  it.each([
    ['null', 'null'],
    ['an array', '[]'],
    ['a number', '12'],
  ])('answers a JSON body that is %s with 400 and keeps running', async (_name, body) => {
    const response = await post(body, 'application/json');
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/must be a JSON object/);
  });

  it('answers a body that is not JSON at all with 400', async () => {
    const response = await post(form({ payload: '{"type":' }));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/payload.* is not valid JSON/);
  });
});

describe('a body over the size limit', () => {
  it.each([1024 * 1024 + 1, 3 * 1024 * 1024])(
    'answers %i bytes with 413 once it has them all, not a reset',
    async (bytes) => {
      const response = await post(`payload=${'x'.repeat(bytes)}`);
      expect(response.status).toBe(413);
      expect(await errorOf(response)).toMatch(/larger than 1 MB/);
    },
  );
});

describe('a signed request Bolt would answer 500', () => {
  const click = (change: (payload: Record<string, unknown>) => void) => {
    const body = blockActionBody({
      actionId: 'audit_show_trail',
      value: 'x',
      userId: OWNER,
      channelId: 'C1',
      message: { ts: '1.0' },
      responseUrl: slack.responseUrl('r'),
    });
    const payload = JSON.parse(new URLSearchParams(body).get('payload')!) as Record<string, unknown>;
    change(payload);
    return form({ payload: JSON.stringify(payload) });
  };

  it('refuses block_actions without a user, naming the field', async () => {
    const response = await post(click((payload) => delete payload.user));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/block_actions.*user/);
  });

  it('refuses block_actions whose actions are not objects', async () => {
    const response = await post(click((payload) => (payload.actions = [null])));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/actions\.0/);
  });

  it('refuses view_submission whose view is not an object', async () => {
    const payload = {
      type: 'view_submission',
      team: { id: 'T0001' },
      user: { id: OWNER },
      api_app_id: 'A1',
      view: 'modal',
    };
    const response = await post(form({ payload: JSON.stringify(payload) }));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/view_submission.*view/);
  });

  it('refuses an event_callback whose event is null', async () => {
    const { body, contentType } = json({
      type: 'event_callback',
      team_id: 'T0001',
      api_app_id: 'A1',
      event: null,
      event_id: 'Ev1',
      event_time: 1,
    });
    const response = await post(body, contentType);
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/event_callback.*event/);
  });

  it('refuses a slash command without its user', async () => {
    const fields = Object.fromEntries(
      new URLSearchParams(slashCommandBody({ text: 'help', userId: OWNER, responseUrl: slack.responseUrl('r') })),
    );
    delete fields.user_id;
    const response = await post(form(fields));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/slash command.*user_id/);
  });
});

describe('a well-formed request nothing handles', () => {
  it.each([
    [
      'a button this app never sent',
      () =>
        blockActionBody({
          actionId: 'someone_elses_button',
          value: 'v',
          userId: OWNER,
          channelId: 'C1',
          message: { ts: '1.0' },
          responseUrl: slack.responseUrl('r'),
        }),
    ],
    [
      'another slash command',
      () =>
        slashCommandBody({ text: 'x', userId: OWNER, responseUrl: slack.responseUrl('r') }).replace(
          '%2Faudit',
          '%2Fother',
        ),
    ],
    [
      'a payload type Bolt does not know',
      () =>
        form({
          payload: JSON.stringify({
            type: 'app_rate_limited',
            team_id: 'T0001',
            minute_rate_limited: 1,
            api_app_id: 'A1',
          }),
        }),
    ],
  ])('acknowledges %s at once instead of holding it 3 s and answering 404', async (_name, body) => {
    const response = await post(body());
    expect(response.status).toBe(200);
  });

  it('acknowledges an event no listener wants', async () => {
    const { body, contentType } = json({
      type: 'event_callback',
      team_id: 'T0001',
      api_app_id: 'A1',
      event: { type: 'reaction_added', user: OWNER, item: { type: 'message', channel: 'C1', ts: '1.0' } },
      event_id: 'Ev1',
      event_time: 1,
    });
    expect((await post(body, contentType)).status).toBe(200);
  });

  it('still answers url_verification with the challenge and ssl_check with 200', async () => {
    const { body, contentType } = json({ type: 'url_verification', token: 't', challenge: 'c-123' });
    const verification = await post(body, contentType);
    expect(verification.status).toBe(200);
    expect(await verification.json()).toEqual({ challenge: 'c-123' });
    const check = await fetch(`${service.url}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'ssl_check=1&token=t',
    });
    expect(check.status).toBe(200);
  });
});

describe('the signature and the timestamp window', () => {
  const body = () => slashCommandBody({ text: 'help', userId: OWNER, responseUrl: slack.responseUrl('r') });

  it('refuses a timestamp more than 5 minutes in the future, as Slack signs no such request', async () => {
    const future = Math.floor(Date.now() / 1000) + 6 * 60;
    const signed = body();
    const response = await postToSlackEndpoint(service.url, signed, {
      timestamp: future,
      signature: sign(SIGNING_SECRET, future, signed),
    });
    expect(response.status).toBe(401);
    expect(await errorOf(response)).toMatch(/future/);
  });

  it('refuses a stale timestamp, a forged signature and missing headers with 401 naming the problem', async () => {
    const signed = body();
    const stale = Math.floor(Date.now() / 1000) - 6 * 60;
    const old = await postToSlackEndpoint(service.url, signed, {
      timestamp: stale,
      signature: sign(SIGNING_SECRET, stale, signed),
    });
    expect(old.status).toBe(401);
    expect(await errorOf(old)).toMatch(/older than 5 minutes/);
    const forged = await postToSlackEndpoint(service.url, signed, { secret: 'not-the-secret' });
    expect(forged.status).toBe(401);
    expect(await errorOf(forged)).toMatch(/signature/);
    const bare = await fetch(`${service.url}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: signed,
    });
    expect(bare.status).toBe(401);
    expect(await errorOf(bare)).toMatch(/x-slack-request-timestamp/);
  });
});

describe('after all of that', () => {
  it('logged each refusal and never met an unhandled rejection', async () => {
    const lines = service.logLines();
    expect(lines.some((line) => line.msg === 'refused a request to /slack/events')).toBe(true);
    expect(lines.filter((line) => /unhandled/i.test(String(line.msg)))).toEqual([]);
    // A slash command from an owner still works end to end.
    const url = slack.responseUrl('final');
    const response = await postToSlackEndpoint(
      service.url,
      slashCommandBody({ text: 'help', userId: OWNER, responseUrl: url }),
    );
    expect(response.status).toBe(200);
    await expect.poll(() => slack.responses('final').length, { timeout: 10_000 }).toBe(1);
  });
});
