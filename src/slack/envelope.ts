/**
 * The gate in front of Bolt's HTTP receiver: checks the signature and the timestamp window, reads the body exactly as
 * Bolt will, and refuses what Bolt would crash on (a `null` payload takes the process down from inside its receiver)
 * or answer 500 to, so only a request shaped as Slack documents it reaches Bolt. Well-formed payloads that no
 * listener of Bolt's can recognise are acknowledged here, since Bolt would hold them 3 seconds and answer 404.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import { z } from 'zod';
import { isRecord } from '../json.ts';

/** Slack's documented window: a request timestamped further from now, either way, was not just sent by Slack. */
export const MAX_CLOCK_SKEW_SECONDS = 5 * 60;

const FORM = 'application/x-www-form-urlencoded';

export interface ScreeningProblem {
  path: string;
  message: string;
}

export type Screening =
  /** Hand the raw request to Bolt. */
  | { verdict: 'bolt'; kind: string }
  /** Answer 200 here: Slack's ssl_check, or a well-formed payload no Bolt listener can match. */
  | { verdict: 'ack'; kind: string }
  | { verdict: 'refuse'; status: 400 | 401; error: string; details?: ScreeningProblem[] };

export function screenSlackRequest(request: {
  headers: IncomingHttpHeaders;
  body: Buffer;
  signingSecret: string;
  nowMs?: number;
}): Screening {
  const text = request.body.toString();
  // Bolt reads a body as a form only for exactly this content type (no charset), and as JSON otherwise.
  const isForm = request.headers['content-type'] === FORM;
  // Slack's unsigned SSL check; Bolt answers it before checking any signature, ignoring everything else sent along.
  if (isForm && parseQueryString(text).ssl_check === '1') return { verdict: 'ack', kind: 'ssl_check' };

  const unsigned = signatureProblem(request.headers, text, request.signingSecret, request.nowMs ?? Date.now());
  if (unsigned) return { verdict: 'refuse', status: 401, error: unsigned };

  const parsed = parseBody(text, isForm);
  if (!parsed.ok) return { verdict: 'refuse', status: 400, error: parsed.error };
  return screenPayload(parsed.body);
}

function signatureProblem(
  headers: IncomingHttpHeaders,
  text: string,
  secret: string,
  nowMs: number,
): string | undefined {
  const timestamp = headers['x-slack-request-timestamp'];
  const signature = headers['x-slack-signature'];
  if (typeof timestamp !== 'string' || !/^\d{1,15}$/.test(timestamp)) {
    return 'x-slack-request-timestamp is missing or not a number of seconds';
  }
  if (typeof signature !== 'string') return 'x-slack-signature is missing';
  // Bolt signs the number as it reads it, so "0017…" and "17…" are the same timestamp to both of us.
  const seconds = Number(timestamp);
  const now = Math.floor(nowMs / 1000);
  if (seconds < now - MAX_CLOCK_SKEW_SECONDS) return 'x-slack-request-timestamp is older than 5 minutes';
  if (seconds > now + MAX_CLOCK_SKEW_SECONDS) return 'x-slack-request-timestamp is more than 5 minutes in the future';
  const given = /^v0=([0-9a-f]{64})$/.exec(signature)?.[1];
  if (!given) return 'x-slack-signature is not a v0 signature';
  const expected = createHmac('sha256', secret).update(`v0:${seconds}:${text}`).digest();
  if (!timingSafeEqual(Buffer.from(given, 'hex'), expected)) return 'x-slack-signature does not match the body';
  return undefined;
}

type Parsed = { ok: true; body: unknown } | { ok: false; error: string };

/** As Bolt's parseHTTPRequestBody: a form's `payload` field is JSON; a form without one is the body itself. */
function parseBody(text: string, isForm: boolean): Parsed {
  if (isForm) {
    const fields = parseQueryString(text);
    if (typeof fields.payload !== 'string') return { ok: true, body: { ...fields } };
    try {
      return { ok: true, body: JSON.parse(fields.payload) as unknown };
    } catch {
      return { ok: false, error: 'the form field `payload` is not valid JSON' };
    }
  }
  try {
    return { ok: true, body: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, error: 'the body is not valid JSON (Slack sends events as JSON and the rest as a form)' };
  }
}

// Slack's documented payload shapes, as far as Bolt and this app's listeners read them; everything else passes.
const id = z.string().min(1).max(255);
const text = z.string().max(40_000);
const url = z.url({ protocol: /^https?$/ });
const user = z.looseObject({ id, name: text.optional(), username: text.optional(), team_id: id.optional() });
/** Null when the app is installed org-wide, so Bolt falls back to user.team_id. */
const team = z.looseObject({ id }).nullable().optional();
/** Bolt reads channel.id whenever `channel` is not undefined, so null is refused too. */
const channel = z.looseObject({ id }).optional();
const message = z.looseObject({ ts: z.string(), blocks: z.array(z.unknown()).optional() });

/** What every interactive payload carries; `response_urls` is Bolt's fallback for respond(). */
const interactive = {
  user,
  team,
  channel,
  api_app_id: id.optional(),
  response_url: url.optional(),
  response_urls: z.array(z.looseObject({ response_url: url })).optional(),
};

const blockActions = z.looseObject({
  ...interactive,
  type: z.literal('block_actions'),
  actions: z
    .array(z.looseObject({ type: z.string(), action_id: id, block_id: z.string(), value: text.optional() }))
    .min(1),
  message: message.optional(),
  container: z.looseObject({ type: z.string() }).optional(),
});

const legacyActions = z.looseObject({
  ...interactive,
  type: z.string(),
  callback_id: z.string(),
  actions: z.array(z.looseObject({ type: z.string() })).min(1),
});

const dialogSubmission = z.looseObject({
  ...interactive,
  type: z.literal('dialog_submission'),
  callback_id: z.string(),
  submission: z.record(z.string(), z.unknown()),
});

const viewPayload = z.looseObject({
  ...interactive,
  type: z.enum(['view_submission', 'view_closed']),
  view: z.looseObject({
    id,
    type: z.string(),
    callback_id: z.string().optional(),
    app_installed_team_id: id.optional(),
    state: z.looseObject({}).optional(),
  }),
});

const shortcut = z.looseObject({
  ...interactive,
  type: z.literal('shortcut'),
  callback_id: z.string(),
  trigger_id: z.string(),
});
const messageAction = z.looseObject({
  ...interactive,
  type: z.literal('message_action'),
  callback_id: z.string(),
  trigger_id: z.string(),
  channel: z.looseObject({ id }),
  message: z.looseObject({}),
});

const options = z.looseObject({ ...interactive, type: z.string(), value: z.string().optional() });

/** A slash command, as its form fields (so every value a string; a repeated field would be an array). */
const slashCommand = z.looseObject({
  command: z.string().regex(/^\/\S+$/, 'expected a command such as /audit'),
  text: z.string(),
  user_id: id,
  user_name: text.optional(),
  team_id: id,
  channel_id: id,
  response_url: url,
  trigger_id: z.string(),
  enterprise_id: z.string().optional(),
  is_enterprise_install: z.enum(['true', 'false']).optional(),
});

/** The Events API envelope; the checks on `event` are the ones Bolt's dispatch relies on (`in` on each of these). */
const eventCallback = z.looseObject({
  type: z.literal('event_callback'),
  team_id: id.optional(),
  api_app_id: id,
  event_id: z.string(),
  event_time: z.number(),
  event: z.looseObject({
    type: z.string(),
    user: z.union([z.string(), z.looseObject({ id })]).optional(),
    channel: z.union([z.string(), z.looseObject({})]).optional(),
    channel_id: z.string().optional(),
    item: z.looseObject({}).optional(),
    subteam: z.looseObject({}).optional(),
  }),
  authorizations: z
    .array(
      z.looseObject({
        team_id: id.nullable().optional(),
        enterprise_id: id.nullable().optional(),
        is_enterprise_install: z.boolean().optional(),
      }),
    )
    .optional(),
});

const urlVerification = z.looseObject({ type: z.literal('url_verification'), challenge: z.string().max(1000) });

/** Sorts the payload the way Bolt's dispatch does (the same fields, in the same order), then checks its shape. */
function screenPayload(body: unknown): Screening {
  if (!isRecord(body)) {
    return { verdict: 'refuse', status: 400, error: 'the payload must be a JSON object, as every Slack payload is' };
  }
  if (body.ssl_check === '1') return { verdict: 'ack', kind: 'ssl_check' };
  if (body.type === 'url_verification') return check('url_verification', urlVerification, body);
  if (body.event !== undefined) return check('event_callback', eventCallback, body);
  if (body.command !== undefined) return check('slash command', slashCommand, body);
  if (body.name !== undefined || body.type === 'block_suggestion') return check(kindOf(body), options, body);
  // A block_actions without actions is not one Bolt would dispatch, and not one Slack sends: refused, not acked.
  if (body.actions !== undefined || body.type === 'block_actions') {
    return check(kindOf(body), body.type === 'block_actions' ? blockActions : legacyActions, body);
  }
  if (body.type === 'dialog_submission') return check('dialog_submission', dialogSubmission, body);
  if (body.type === 'shortcut') return check('shortcut', shortcut, body);
  if (body.type === 'message_action') return check('message_action', messageAction, body);
  if (body.type === 'view_submission' || body.type === 'view_closed') return check(body.type, viewPayload, body);
  if (typeof body.type === 'string' && body.type !== '') return { verdict: 'ack', kind: truncate(body.type) };
  return {
    verdict: 'refuse',
    status: 400,
    error: 'not a Slack payload: it has no `type`, `command` or `event`',
  };
}

function check(kind: string, schema: z.ZodType, body: Record<string, unknown>): Screening {
  const result = schema.safeParse(body);
  if (result.success) return { verdict: 'bolt', kind };
  const details = result.error.issues.slice(0, 10).map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
  const [first] = details;
  return {
    verdict: 'refuse',
    status: 400,
    error: `malformed ${kind} payload: ${first ? `${first.path}: ${first.message}` : 'invalid'}`,
    details,
  };
}

function kindOf(body: Record<string, unknown>): string {
  return typeof body.type === 'string' ? truncate(body.type) : 'interactive';
}

/** Payload types are echoed in messages and logs; a forged one may be long. */
function truncate(value: string): string {
  return value.length > 60 ? `${value.slice(0, 59)}…` : value;
}
