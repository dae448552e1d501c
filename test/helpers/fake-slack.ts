/**
 * A local stand-in for Slack's Web API: the real WebClient (and Bolt on top of it) talks to it over HTTP, it answers
 * with the shapes Slack documents, records every call, and lets a test script failures and slow answers.
 */
import { Buffer } from 'node:buffer';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HoldState, type Hold } from './hold.ts';

export interface RecordedCall {
  /** Web API method (`chat.postMessage`), or `upload` for a file upload URL, or `response_url`. */
  method: string;
  /** The form or JSON body, with Slack's JSON-encoded fields (blocks, metadata, files…) already parsed. */
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
  /** performance.now() when the request arrived, in milliseconds. */
  at: number;
}

/**
 * A scripted answer for the next call of a method: an HTTP failure (429 with Retry-After unless another status is
 * given), or a Slack platform error answered as HTTP 200 `{ ok: false, error }` the way Slack does.
 */
export type ScriptedFailure =
  | { status?: number; retryAfter?: number }
  | { error: string; extra?: Record<string, unknown> };

export interface MessageMetadata {
  event_type: string;
  event_payload: Record<string, unknown>;
}

/** A message as conversations.history returns it. */
export interface FakeMessage {
  type: 'message';
  ts: string;
  text: string;
  user: string;
  bot_id: string;
  app_id: string;
  team: string;
  blocks?: unknown[];
  attachments?: unknown[];
  metadata?: MessageMetadata;
  thread_ts?: string;
  edited?: { user: string; ts: string };
  files?: FakeFileObject[];
  upload?: boolean;
}

export interface EphemeralMessage {
  channel: string;
  user: string;
  text: string;
  blocks?: unknown[];
  message_ts: string;
}

export interface FakeUser {
  id: string;
  name: string;
  real_name?: string;
  email?: string;
  is_bot?: boolean;
  is_admin?: boolean;
  deleted?: boolean;
  tz?: string;
}

export interface FakeFile {
  id: string;
  filename: string;
  title?: string;
  /** The length declared to files.getUploadURLExternal. */
  length: number;
  /** The bytes posted to the upload URL, once they have been. */
  bytes?: Buffer;
  completed: boolean;
  channel?: string;
  initial_comment?: string;
  thread_ts?: string;
}

/** A file as files.completeUploadExternal describes it. */
export type FakeFileObject = Record<string, unknown> & { id: string; name: string; title: string; size: number };

export interface RecordedResponse {
  id: string;
  body: Record<string, unknown>;
  at: number;
}


export interface FakeSlackOptions {
  /** The token requests must carry (`Authorization: Bearer …` or a `token` field); default `xoxb-test`. */
  botToken?: string;
  teamId?: string;
  botUserId?: string;
  users?: FakeUser[];
  /** Membership answered by usergroups.users.list, by user-group ID. */
  usergroups?: Record<string, string[]>;
  /** Socket Mode: the app-level token apps.connections.open takes, and the WebSocket URL it answers. */
  appToken?: string;
  socketUrl?: string;
}

export interface FakeSlack {
  /** The Web API base for `slackApiUrl`, ending in `/api/`. */
  readonly url: string;
  /** `http://127.0.0.1:PORT`, for building other URLs by hand. */
  readonly origin: string;
  readonly botToken: string;
  readonly teamId: string;
  readonly botUserId: string;
  readonly calls: RecordedCall[];
  callsTo(method: string): RecordedCall[];
  /** Resolves with the calls of `method` once there are at least `n`; rejects after `timeoutMs`. */
  waitForCalls(method: string, n: number, timeoutMs?: number): Promise<RecordedCall[]>;
  /** Queues a failure for the next call of `method` (`*` for whichever call comes next). */
  failNext(method: string, failure: ScriptedFailure): void;
  /** Answers every call of `method` (`*` for all) `ms` later; 0 removes the delay. */
  setDelay(method: string, ms: number): void;
  /** Holds every call of `method` until the returned gate is released. */
  hold(method: string): Hold;
  /** Runs `hook` after a call of `method` took effect, before its answer is sent (undefined removes it). */
  afterHandled(method: string, hook: ((body: Record<string, unknown>) => Promise<void> | void) | undefined): void;
  /** The ID of a channel given by name (`#data-alerts`, created on first use) or by ID. */
  channelId(nameOrId: string): string;
  /** Every message posted to a channel (name or ID), oldest first, thread replies included. */
  messages(channel: string): FakeMessage[];
  ephemerals(channel?: string): EphemeralMessage[];
  addUser(user: FakeUser): void;
  setUsergroupMembers(usergroupId: string, userIds: string[]): void;
  files(): FakeFile[];
  /** A response_url this server accepts; what is posted to it shows up in responses(id). */
  responseUrl(id: string): string;
  responses(id?: string): RecordedResponse[];
  close(): Promise<void>;
}

/** A response_url on a running fake, for building slash-command and block_actions payloads. */
export function responseUrl(slack: FakeSlack, id: string): string {
  return slack.responseUrl(id);
}

/** Fields WebClient sends JSON-encoded inside a form body. */
const JSON_FIELDS = new Set(['blocks', 'attachments', 'metadata', 'files', 'view', 'unfurls', 'user_auth_blocks']);
const BOT_SCOPES = 'commands,chat:write,chat:write.public,files:write,usergroups:read,users:read,users:read.email';
const CHANNEL_ID = /^[CGD][A-Z0-9]{8,}$/;

interface Channel {
  id: string;
  name: string;
  created: number;
  isMember: boolean;
}

interface StoredMessage extends FakeMessage {
  channel: string;
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface Parsed {
  body: Record<string, unknown>;
  /** Files found in a multipart body. */
  files: { name: string; filename: string; bytes: Buffer }[];
  raw: Buffer;
}

type Handler = (body: Record<string, unknown>) => Answer;

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const botToken = options.botToken ?? 'xoxb-test';
  const teamId = options.teamId ?? 'T0000000001';
  const botUserId = options.botUserId ?? 'U0000000BOT';
  const botId = 'B0000000001';
  const appId = 'A0000000001';

  const calls: RecordedCall[] = [];
  const callListeners = new Set<() => void>();
  const failures = new Map<string, ScriptedFailure[]>();
  const delays = new Map<string, number>();
  const holds = new Map<string, HoldState>();
  const afterHandled = new Map<string, (body: Record<string, unknown>) => Promise<void> | void>();
  const channelsById = new Map<string, Channel>();
  const channelIdsByName = new Map<string, string>();
  const messages: StoredMessage[] = [];
  const ephemerals: EphemeralMessage[] = [];
  const users = new Map<string, FakeUser>();
  const usergroups = new Map<string, string[]>(Object.entries(options.usergroups ?? {}));
  const files = new Map<string, FakeFile>();
  const uploadTokens = new Map<string, string>();
  const responses: RecordedResponse[] = [];
  let channelCount = 0;
  let fileCount = 0;
  let lastMicros = 0n;

  for (const user of [{ id: botUserId, name: 'audit-trail', real_name: 'Audit Trail', is_bot: true }, ...(options.users ?? [])]) {
    users.set(user.id, user);
  }

  /** Slack message timestamps: seconds and microseconds, unique and increasing, as Slack guarantees per channel. */
  function nextTs(): string {
    const now = BigInt(Date.now()) * 1000n;
    lastMicros = now > lastMicros ? now : lastMicros + 1n;
    return `${lastMicros / 1_000_000n}.${(lastMicros % 1_000_000n).toString().padStart(6, '0')}`;
  }

  function ensureChannel(nameOrId: string): Channel {
    const trimmed = nameOrId.replace(/^#/, '');
    const knownId = CHANNEL_ID.test(trimmed) ? trimmed : channelIdsByName.get(trimmed);
    const known = knownId ? channelsById.get(knownId) : undefined;
    if (known) return known;
    channelCount += 1;
    const id = CHANNEL_ID.test(trimmed) ? trimmed : `C${String(channelCount).padStart(10, '0')}`;
    const channel = { id, name: CHANNEL_ID.test(trimmed) ? trimmed.toLowerCase() : trimmed, created: Math.floor(Date.now() / 1000), isMember: false };
    channelsById.set(id, channel);
    channelIdsByName.set(channel.name, id);
    return channel;
  }

  /** Methods that take a conversation ID only refuse names, as Slack does, so a test catches code that passes one. */
  function channelById(value: unknown): Channel | undefined {
    return typeof value === 'string' ? channelsById.get(value) : undefined;
  }

  function publicMessage(message: StoredMessage, withMetadata = true): FakeMessage {
    const { channel: _channel, ...rest } = structuredClone(message);
    if (!withMetadata) delete rest.metadata;
    return rest;
  }

  const handlers: Record<string, Handler> = {
    'auth.test': () =>
      ok({
        url: 'https://fake-workspace.slack.com/',
        team: 'Fake Workspace',
        user: 'audit-trail',
        team_id: teamId,
        user_id: botUserId,
        bot_id: botId,
        is_enterprise_install: false,
      }),

    'chat.postMessage': (body) => {
      const target = str(body.channel);
      if (!target) return platformError('channel_not_found');
      const invalid = invalidContent(body);
      if (invalid) return invalid;
      const channel = ensureChannel(target);
      channel.isMember = true;
      const message: StoredMessage = {
        channel: channel.id,
        type: 'message',
        ts: nextTs(),
        text: str(body.text) ?? '',
        user: botUserId,
        bot_id: botId,
        app_id: appId,
        team: teamId,
        ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}),
        ...(Array.isArray(body.attachments) ? { attachments: body.attachments } : {}),
        ...(isMetadata(body.metadata) ? { metadata: body.metadata } : {}),
        ...(str(body.thread_ts) ? { thread_ts: str(body.thread_ts) } : {}),
      };
      messages.push(message);
      return ok({ channel: channel.id, ts: message.ts, message: publicMessage(message) });
    },

    'chat.update': (body) => {
      const channel = channelById(body.channel);
      if (!channel) return platformError('channel_not_found');
      const message = messages.find((m) => m.channel === channel.id && m.ts === body.ts);
      if (!message) return platformError('message_not_found');
      if (body.text === undefined && body.blocks === undefined && body.attachments === undefined) return platformError('no_text');
      const invalid = invalidContent(body);
      if (invalid) return invalid;
      // Fields left out keep their old value, as Slack documents for chat.update.
      if (typeof body.text === 'string') message.text = body.text;
      if (Array.isArray(body.blocks)) message.blocks = body.blocks;
      if (Array.isArray(body.attachments)) message.attachments = body.attachments;
      if (isMetadata(body.metadata)) message.metadata = body.metadata;
      message.edited = { user: botUserId, ts: nextTs() };
      return ok({ channel: channel.id, ts: message.ts, text: message.text, message: publicMessage(message) });
    },

    'chat.postEphemeral': (body) => {
      const target = str(body.channel);
      const user = str(body.user);
      if (!target) return platformError('channel_not_found');
      if (!user) return platformError('user_not_found');
      const invalid = invalidContent(body);
      if (invalid) return invalid;
      const channel = ensureChannel(target);
      const ephemeral: EphemeralMessage = {
        channel: channel.id,
        user,
        text: str(body.text) ?? '',
        ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}),
        message_ts: nextTs(),
      };
      ephemerals.push(ephemeral);
      return ok({ message_ts: ephemeral.message_ts });
    },

    'conversations.history': (body) => {
      const channel = channelById(body.channel);
      if (!channel) return platformError('channel_not_found');
      const limit = Math.min(Math.max(Number(body.limit ?? 100) || 100, 1), 999);
      const inclusive = truthy(body.inclusive);
      const oldest = tsMicros(str(body.oldest) ?? '0');
      if (oldest === undefined) return platformError('invalid_ts_oldest');
      const latest = body.latest === undefined ? undefined : (tsMicros(String(body.latest)) ?? null);
      if (latest === null) return platformError('invalid_ts_latest');
      const start = cursorValue(body.cursor, 'next_ts');
      if (body.cursor !== undefined && body.cursor !== '' && start === undefined) return platformError('invalid_cursor');
      const startAt = start === undefined ? undefined : tsMicros(start);
      if (start !== undefined && startAt === undefined) return platformError('invalid_cursor');
      // History lists channel messages and thread parents newest first; replies live in conversations.replies.
      const matching = messages
        .filter((m) => m.channel === channel.id && (m.thread_ts === undefined || m.thread_ts === m.ts))
        .filter((m) => {
          const at = tsMicros(m.ts)!; // ours, always well formed
          if (inclusive ? at < oldest : at <= oldest) return false;
          if (latest !== undefined && (inclusive ? at > latest : at >= latest)) return false;
          return startAt === undefined || at <= startAt;
        })
        .sort((a, b) => (tsMicros(b.ts)! > tsMicros(a.ts)! ? 1 : -1));
      const page = matching.slice(0, limit);
      const next = matching[limit];
      return ok({
        messages: page.map((m) => publicMessage(m, truthy(body.include_all_metadata))),
        has_more: next !== undefined,
        pin_count: 0,
        channel_actions_ts: null,
        channel_actions_count: 0,
        response_metadata: { next_cursor: next ? cursor('next_ts', next.ts) : '' },
      });
    },

    'conversations.list': (body) => {
      const limit = Math.min(Math.max(Number(body.limit ?? 100) || 100, 1), 1000);
      const all = [...channelsById.values()];
      const after = cursorValue(body.cursor, 'team');
      const from = after === undefined ? 0 : all.findIndex((c) => c.id === after);
      const page = all.slice(Math.max(from, 0), Math.max(from, 0) + limit);
      const next = all[Math.max(from, 0) + limit];
      return ok({
        channels: page.map((c) => channelObject(c, teamId, botUserId)),
        response_metadata: { next_cursor: next ? cursor('team', next.id) : '' },
      });
    },

    'usergroups.users.list': (body) => {
      const members = usergroups.get(str(body.usergroup) ?? '');
      return members ? ok({ users: [...members] }) : platformError('no_such_subteam');
    },

    'users.info': (body) => {
      const user = users.get(str(body.user) ?? '');
      return user ? ok({ user: userObject(user, teamId) }) : platformError('user_not_found');
    },

    'files.getUploadURLExternal': (body) => {
      const filename = str(body.filename);
      const length = Number(body.length);
      if (!filename || !Number.isInteger(length) || length < 0) return platformError('invalid_arguments');
      fileCount += 1;
      const id = `F${String(fileCount).padStart(10, '0')}`;
      const token = Buffer.from(`upload:${id}:${Date.now()}`).toString('base64url');
      files.set(id, { id, filename, length, completed: false });
      uploadTokens.set(token, id);
      return ok({ upload_url: `${origin}/upload/v1/${token}`, file_id: id });
    },

    'files.completeUploadExternal': (body) => {
      if (!Array.isArray(body.files) || body.files.length === 0) return platformError('invalid_arguments');
      const target = str(body.channel_id) ?? str(body.channels)?.split(',')[0];
      const channel = target === undefined ? undefined : channelById(target);
      if (target !== undefined && !channel) return platformError('channel_not_found');
      const completed: FakeFileObject[] = [];
      for (const entry of body.files as unknown[]) {
        const id = isRecord(entry) ? str(entry.id) : undefined;
        const file = id ? files.get(id) : undefined;
        if (!file || !file.bytes) return platformError('file_not_found');
        const title = isRecord(entry) ? str(entry.title) : undefined;
        Object.assign(file, {
          completed: true,
          title: title ?? file.filename,
          ...(channel ? { channel: channel.id } : {}),
          ...(str(body.initial_comment) ? { initial_comment: str(body.initial_comment) } : {}),
          ...(str(body.thread_ts) ? { thread_ts: str(body.thread_ts) } : {}),
        });
        completed.push(fileObject(file, teamId, botUserId));
      }
      if (channel) {
        // Sharing a file posts a message carrying it, which is what people in the channel see.
        messages.push({
          channel: channel.id,
          type: 'message',
          ts: nextTs(),
          text: str(body.initial_comment) ?? '',
          user: botUserId,
          bot_id: botId,
          app_id: appId,
          team: teamId,
          files: completed,
          upload: true,
          ...(str(body.thread_ts) ? { thread_ts: str(body.thread_ts) } : {}),
        });
      }
      return ok({ files: completed });
    },
  };

  function record(method: string, body: Record<string, unknown>, headers: IncomingHttpHeaders): void {
    calls.push({ method, body, headers, at: performance.now() });
    for (const listener of [...callListeners]) listener();
  }

  async function pace(method: string): Promise<void> {
    const ms = delays.get(method) ?? delays.get('*') ?? 0;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    const gate = holds.get(method);
    if (gate && !gate.released) await gate.enter();
  }

  function takeFailure(method: string): ScriptedFailure | undefined {
    for (const key of [method, '*']) {
      const queue = failures.get(key);
      const failure = queue?.shift();
      if (failure) return failure;
    }
    return undefined;
  }

  function authorized(headers: IncomingHttpHeaders, body: Record<string, unknown>): Answer | undefined {
    const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1];
    const token = bearer ?? str(body.token);
    if (!token) return platformError('not_authed');
    return token === botToken ? undefined : platformError('invalid_auth');
  }

  async function route(request: IncomingMessage): Promise<Answer> {
    const url = new URL(request.url ?? '/', origin);
    const parsed = await parseBody(request, url);

    const api = /^\/api\/([\w.]+)$/.exec(url.pathname);
    if (api?.[1]) {
      const method = api[1];
      record(method, parsed.body, request.headers);
      await pace(method);
      const failure = takeFailure(method);
      if (failure) return scripted(failure);
      if (method === 'apps.connections.open') {
        // The one method Slack takes an app-level token for (and no bot token).
        const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1];
        if (!options.appToken || bearer !== options.appToken) return platformError('invalid_auth');
        return options.socketUrl ? ok({ url: options.socketUrl }) : platformError('socket_mode_not_enabled');
      }
      const refused = authorized(request.headers, parsed.body);
      if (refused) return refused;
      const handler = handlers[method];
      const answer = handler ? await handler(parsed.body) : platformError('unknown_method');
      // After Slack has acted on the call but before the caller hears back: where crash tests strike.
      await afterHandled.get(method)?.(parsed.body);
      return answer;
    }

    const upload = /^\/upload\/v1\/([\w-]+)$/.exec(url.pathname);
    if (upload?.[1] && request.method === 'POST') {
      const id = uploadTokens.get(upload[1]);
      const bytes = parsed.files[0]?.bytes ?? parsed.raw;
      record('upload', { file_id: id, length: bytes.length, filename: parsed.files[0]?.filename }, request.headers);
      await pace('upload');
      const failure = takeFailure('upload');
      if (failure) return scripted(failure);
      const file = id ? files.get(id) : undefined;
      if (!file) return { status: 404, body: 'Not Found', headers: { 'content-type': 'text/plain' } };
      file.bytes = bytes;
      return { status: 200, body: `OK - ${bytes.length}`, headers: { 'content-type': 'text/plain' } };
    }

    const response = /^\/response\/([^/]+)$/.exec(url.pathname);
    if (response?.[1] && request.method === 'POST') {
      const id = decodeURIComponent(response[1]);
      record('response_url', parsed.body, request.headers);
      await pace('response_url');
      const failure = takeFailure('response_url');
      if (failure) return scripted(failure);
      responses.push({ id, body: parsed.body, at: performance.now() });
      return { status: 200, body: { ok: true } };
    }

    return { status: 404, body: 'Not Found', headers: { 'content-type': 'text/plain' } };
  }

  const server = createServer((request, response) => {
    route(request).then(
      (answer) => send(response, answer),
      (error: unknown) => send(response, { status: 500, body: { ok: false, error: 'fatal_error', detail: String(error) } }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  const fake: FakeSlack = {
    url: `${origin}/api/`,
    origin,
    botToken,
    teamId,
    botUserId,
    calls,
    callsTo: (method) => calls.filter((c) => c.method === method),
    waitForCalls(method, n, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = fake.callsTo(method);
          if (found.length < n) return false;
          callListeners.delete(listener);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const listener = (): void => void check();
        const timer = setTimeout(() => {
          callListeners.delete(listener);
          const seen = calls.map((c) => c.method).join(', ') || 'none';
          reject(new Error(`fake Slack: expected ${n} ${method} call(s) within ${timeoutMs} ms, got ${fake.callsTo(method).length} (calls: ${seen})`));
        }, timeoutMs);
        callListeners.add(listener);
        check();
      });
    },
    failNext(method, failure) {
      const queue = failures.get(method) ?? [];
      queue.push(failure);
      failures.set(method, queue);
    },
    setDelay(method, ms) {
      if (ms > 0) delays.set(method, ms);
      else delays.delete(method);
    },
    afterHandled(method, hook) {
      if (hook) afterHandled.set(method, hook);
      else afterHandled.delete(method);
    },
    hold(method) {
      const state = new HoldState(() => holds.delete(method), 'fake Slack');
      holds.set(method, state);
      return state;
    },
    channelId: (nameOrId) => ensureChannel(nameOrId).id,
    messages(channel) {
      const id = ensureChannel(channel).id;
      return messages.filter((m) => m.channel === id).map((m) => publicMessage(m));
    },
    ephemerals(channel) {
      const id = channel === undefined ? undefined : ensureChannel(channel).id;
      return ephemerals.filter((e) => id === undefined || e.channel === id).map((e) => structuredClone(e));
    },
    addUser: (user) => void users.set(user.id, user),
    setUsergroupMembers: (usergroupId, userIds) => void usergroups.set(usergroupId, [...userIds]),
    files: () => [...files.values()].map((f) => ({ ...f })),
    responseUrl: (id) => `${origin}/response/${encodeURIComponent(id)}`,
    responses: (id) => responses.filter((r) => id === undefined || r.id === id),
    async close() {
      for (const hold of holds.values()) hold.release();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
  return fake;
}


function ok(body: Record<string, unknown>): Answer {
  return { status: 200, body: { ok: true, ...body } };
}

/** Slack reports platform errors with HTTP 200 and `ok: false`. */
function platformError(error: string, extra: Record<string, unknown> = {}): Answer {
  return { status: 200, body: { ok: false, error, ...extra } };
}

function scripted(failure: ScriptedFailure): Answer {
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

function send(response: ServerResponse, answer: Answer): void {
  const isText = typeof answer.body === 'string';
  const payload = isText ? (answer.body as string) : JSON.stringify(answer.body);
  response.writeHead(answer.status, {
    'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'x-oauth-scopes': BOT_SCOPES,
    ...answer.headers,
  });
  response.end(payload);
}

async function parseBody(request: IncomingMessage, url: URL): Promise<Parsed> {
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

/** A post needs something to show, sane metadata and blocks within Block Kit's limits, or Slack refuses it. */
function invalidContent(body: Record<string, unknown>): Answer | undefined {
  const hasText = typeof body.text === 'string' && body.text.length > 0;
  if (!hasText && body.blocks === undefined && body.attachments === undefined) return platformError('no_text');
  if (body.metadata !== undefined && !isMetadata(body.metadata)) return platformError('invalid_metadata_format');
  if (body.blocks !== undefined) {
    const errors = blockErrors(body.blocks);
    if (errors.length) {
      return platformError('invalid_blocks', {
        errors,
        response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) },
      });
    }
  }
  return undefined;
}

function isMetadata(value: unknown): value is MessageMetadata {
  return isRecord(value) && typeof value.event_type === 'string' && value.event_type.length > 0 && isRecord(value.event_payload);
}

/** The Block Kit limits Slack enforces on the blocks this project posts, with Slack's error wording. */
function blockErrors(blocks: unknown): string[] {
  if (!Array.isArray(blocks)) return ['must be an array [json-pointer:/blocks]'];
  const errors: string[] = [];
  if (blocks.length > 50) errors.push('no more than 50 items allowed [json-pointer:/blocks]');
  const blockIds = new Set<string>();
  const tooLong = (value: unknown, max: number, path: string): void => {
    if (typeof value === 'string' && value.length > max) errors.push(`must be less than ${max + 1} characters [json-pointer:${path}]`);
  };
  const text = (value: unknown, max: number, path: string, plainOnly = false): void => {
    if (!isRecord(value) || (value.type !== 'plain_text' && value.type !== 'mrkdwn') || typeof value.text !== 'string') {
      errors.push(`must be a text object [json-pointer:${path}]`);
      return;
    }
    if (plainOnly && value.type !== 'plain_text') errors.push(`must be a plain_text object [json-pointer:${path}/type]`);
    if (value.text.length === 0) errors.push(`must be more than 0 characters [json-pointer:${path}/text]`);
    tooLong(value.text, max, `${path}/text`);
  };
  const button = (element: Record<string, unknown>, path: string): void => {
    text(element.text, 75, `${path}/text`, true);
    tooLong(element.value, 2000, `${path}/value`);
    tooLong(element.action_id, 255, `${path}/action_id`);
    tooLong(element.url, 3000, `${path}/url`);
    if (element.style !== undefined && element.style !== 'primary' && element.style !== 'danger') {
      errors.push(`must be one of primary, danger [json-pointer:${path}/style]`);
    }
    if (element.confirm !== undefined) {
      const confirm = isRecord(element.confirm) ? element.confirm : {};
      text(confirm.title, 100, `${path}/confirm/title`, true);
      text(confirm.text, 300, `${path}/confirm/text`);
      text(confirm.confirm, 30, `${path}/confirm/confirm`, true);
      text(confirm.deny, 30, `${path}/confirm/deny`, true);
    }
  };

  blocks.forEach((block: unknown, index) => {
    const path = `/blocks/${index}`;
    if (!isRecord(block) || typeof block.type !== 'string') {
      errors.push(`must provide an object with a type [json-pointer:${path}]`);
      return;
    }
    if (typeof block.block_id === 'string') {
      tooLong(block.block_id, 255, `${path}/block_id`);
      if (blockIds.has(block.block_id)) errors.push(`duplicate block_id [json-pointer:${path}/block_id]`);
      blockIds.add(block.block_id);
    }
    switch (block.type) {
      case 'header':
        text(block.text, 150, `${path}/text`, true);
        break;
      case 'section': {
        if (block.text === undefined && block.fields === undefined) errors.push(`must provide text or fields [json-pointer:${path}]`);
        if (block.text !== undefined) text(block.text, 3000, `${path}/text`);
        if (block.fields !== undefined) {
          const fields = Array.isArray(block.fields) ? block.fields : [];
          if (fields.length === 0 || fields.length > 10) errors.push(`must provide 1 to 10 fields [json-pointer:${path}/fields]`);
          fields.forEach((field: unknown, i) => text(field, 2000, `${path}/fields/${i}`));
        }
        if (isRecord(block.accessory) && block.accessory.type === 'button') button(block.accessory, `${path}/accessory`);
        break;
      }
      case 'context': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length === 0 || elements.length > 10) errors.push(`must provide 1 to 10 elements [json-pointer:${path}/elements]`);
        break;
      }
      case 'actions': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length === 0 || elements.length > 25) errors.push(`must provide 1 to 25 elements [json-pointer:${path}/elements]`);
        const actionIds = new Set<unknown>();
        elements.forEach((element: unknown, i) => {
          if (!isRecord(element)) return;
          if (element.action_id !== undefined && actionIds.has(element.action_id)) {
            errors.push(`duplicate action_id [json-pointer:${path}/elements/${i}/action_id]`);
          }
          actionIds.add(element.action_id);
          if (element.type === 'button') button(element, `${path}/elements/${i}`);
        });
        break;
      }
      default:
        break;
    }
  });
  return errors;
}

function channelObject(channel: Channel, teamId: string, botUserId: string): Record<string, unknown> {
  return {
    id: channel.id,
    name: channel.name,
    is_channel: true,
    is_group: false,
    is_im: false,
    is_mpim: false,
    is_private: false,
    created: channel.created,
    is_archived: false,
    is_general: channel.name === 'general',
    unlinked: 0,
    name_normalized: channel.name,
    is_shared: false,
    is_org_shared: false,
    is_pending_ext_shared: false,
    pending_shared: [],
    context_team_id: teamId,
    updated: channel.created * 1000,
    creator: botUserId,
    is_ext_shared: false,
    shared_team_ids: [teamId],
    pending_connected_team_ids: [],
    is_member: channel.isMember,
    topic: { value: '', creator: '', last_set: 0 },
    purpose: { value: '', creator: '', last_set: 0 },
    previous_names: [],
    num_members: 1,
  };
}

function userObject(user: FakeUser, teamId: string): Record<string, unknown> {
  const realName = user.real_name ?? user.name;
  return {
    id: user.id,
    team_id: teamId,
    name: user.name,
    deleted: user.deleted ?? false,
    color: '9f69e7',
    real_name: realName,
    tz: user.tz ?? 'Europe/Amsterdam',
    tz_label: 'Central European Time',
    tz_offset: 3600,
    profile: {
      real_name: realName,
      real_name_normalized: realName,
      display_name: user.name,
      display_name_normalized: user.name,
      ...(user.email ? { email: user.email } : {}),
      image_48: 'https://a.slack-edge.com/80588/img/avatars/ava_0001-48.png',
      team: teamId,
    },
    is_admin: user.is_admin ?? false,
    is_owner: false,
    is_primary_owner: false,
    is_restricted: false,
    is_ultra_restricted: false,
    is_bot: user.is_bot ?? false,
    is_app_user: false,
    updated: Math.floor(Date.now() / 1000),
  };
}

function fileObject(file: FakeFile, teamId: string, botUserId: string): FakeFileObject {
  const created = Math.floor(Date.now() / 1000);
  const extension = /\.([\w]+)$/.exec(file.filename)?.[1]?.toLowerCase() ?? 'text';
  return {
    id: file.id,
    created,
    timestamp: created,
    name: file.filename,
    title: file.title ?? file.filename,
    mimetype: extension === 'csv' ? 'text/csv' : 'application/octet-stream',
    filetype: extension,
    pretty_type: extension.toUpperCase(),
    user: botUserId,
    user_team: teamId,
    editable: false,
    size: file.bytes?.length ?? file.length,
    mode: 'hosted',
    is_external: false,
    external_type: '',
    is_public: file.channel !== undefined,
    public_url_shared: false,
    display_as_bot: false,
    username: '',
    url_private: `https://files.slack.com/files-pri/${teamId}-${file.id}/${file.filename}`,
    url_private_download: `https://files.slack.com/files-pri/${teamId}-${file.id}/download/${file.filename}`,
    permalink: `https://fake-workspace.slack.com/files/${botUserId}/${file.id}/${file.filename}`,
    comments_count: 0,
    is_starred: false,
    shares: {},
    channels: file.channel ? [file.channel] : [],
    groups: [],
    ims: [],
    has_more_shares: false,
    has_rich_preview: false,
    file_access: 'visible',
  };
}

/** Slack cursors are opaque base64 strings; these ones carry a prefix and where the next page starts. */
function cursor(prefix: string, value: string): string {
  return Buffer.from(`${prefix}:${value}`).toString('base64');
}

function cursorValue(value: unknown, prefix: string): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  return decoded.startsWith(`${prefix}:`) ? decoded.slice(prefix.length + 1) : undefined;
}

/** A Slack timestamp as microseconds, for exact comparison; undefined when it is not one. */
function tsMicros(ts: string): bigint | undefined {
  const match = /^(\d+)(?:\.(\d{1,6}))?$/.exec(ts);
  if (!match?.[1]) return undefined;
  return BigInt(match[1]) * 1_000_000n + BigInt((match[2] ?? '').padEnd(6, '0'));
}

function truthy(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export type { Hold };
