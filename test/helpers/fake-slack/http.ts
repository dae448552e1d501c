/** The fake's wire: request bodies read as Slack reads them, and answers written as Slack writes them. */
import { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isRecord } from '../../../src/json.ts';
import type { ScriptedFailure } from './types.ts';

export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface Parsed {
  body: Record<string, unknown>;
  /** Files found in a multipart body. */
  files: { name: string; filename: string; bytes: Buffer }[];
  raw: Buffer;
}

/** One Web API method: its form or JSON body in, Slack's answer out. */
export type Handler = (body: Record<string, unknown>) => Answer;

/** Fields WebClient sends JSON-encoded inside a form body. */
const JSON_FIELDS = new Set(['blocks', 'attachments', 'metadata', 'files', 'view', 'unfurls', 'user_auth_blocks']);
const BOT_SCOPES = 'commands,chat:write,chat:write.public,files:write,usergroups:read,users:read,users:read.email';

export function ok(body: Record<string, unknown>): Answer {
  return { status: 200, body: { ok: true, ...body } };
}

/** Slack reports platform errors with HTTP 200 and `ok: false`. */
export function platformError(error: string, extra: Record<string, unknown> = {}): Answer {
  return { status: 200, body: { ok: false, error, ...extra } };
}

export function notFound(): Answer {
  return { status: 404, body: 'Not Found', headers: { 'content-type': 'text/plain' } };
}

export function scripted(failure: ScriptedFailure): Answer {
  if ('error' in failure) return platformError(failure.error, failure.extra);
  const status = failure.status ?? 429;
  if (status === 429) {
    return {
      status,
      body: { ok: false, error: 'ratelimited' },
      headers: { 'retry-after': String(failure.retryAfter ?? 1) },
    };
  }
  return { status, body: { ok: false, error: 'fatal_error' } };
}

export function send(response: ServerResponse, answer: Answer): void {
  const isText = typeof answer.body === 'string';
  const payload = isText ? (answer.body as string) : JSON.stringify(answer.body);
  response.writeHead(answer.status, {
    'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'x-oauth-scopes': BOT_SCOPES,
    ...answer.headers,
  });
  response.end(payload);
}

export async function parseBody(request: IncomingMessage, url: URL): Promise<Parsed> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  const body: Record<string, unknown> = Object.fromEntries(url.searchParams);
  const files: Parsed['files'] = [];

  if (type.startsWith('application/x-www-form-urlencoded')) {
    for (const [key, value] of new URLSearchParams(raw.toString('utf8'))) body[key] = decodeField(key, value);
  } else if (type.startsWith('application/json')) {
    const parsed: unknown = raw.length ? JSON.parse(raw.toString('utf8')) : {};
    if (isRecord(parsed)) Object.assign(body, parsed);
  } else if (type.startsWith('multipart/form-data')) {
    // Node's fetch Request already knows multipart, which saves a hand-written parser.
    // The boundary is case-sensitive, so the header goes in as sent rather than lower-cased.
    const headers = { 'content-type': request.headers['content-type'] ?? '' };
    const form = await new Request(url, { method: 'POST', headers, body: Uint8Array.from(raw) }).formData();
    for (const [key, value] of form) {
      if (typeof value === 'string') body[key] = decodeField(key, value);
      else files.push({ name: key, filename: value.name, bytes: Buffer.from(await value.arrayBuffer()) });
    }
  }
  return { body, files, raw };
}

function decodeField(key: string, value: string): unknown {
  if (!JSON_FIELDS.has(key)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value; // Slack would answer invalid_blocks and the like; the handlers check shapes.
  }
}

export function truthy(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
