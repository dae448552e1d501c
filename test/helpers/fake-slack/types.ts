/** What tests see of the fake Slack: the calls it recorded, what it stores, and how to start and script it. */
import type { Buffer } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';
import type { Hold } from '../hold.ts';

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

/** A published home tab or an opened modal, as views.* last left it. */
export interface StoredView {
  id: string;
  hash: string;
  /** The view as the app sent it (type, blocks, title…). */
  view: Record<string, unknown>;
  /** A home tab's user. */
  userId?: string;
  /** The trigger a modal was opened with. */
  triggerId?: string;
}

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
  /** Limits calls of `method` to `calls` per sliding `windowMs`, answering the excess 429 (undefined removes it). */
  rateLimit(method: string, limit: { calls: number; windowMs: number } | undefined): void;
  /** How many calls of `method` the rate limit answered 429. */
  rateLimitedCalls(method: string): number;
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
  /** The App Home view last published for a user, if any. */
  homeView(userId: string): StoredView | undefined;
  /** Every modal opened, oldest first, as last updated. */
  modals(): StoredView[];
  setUsergroupMembers(usergroupId: string, userIds: string[]): void;
  files(): FakeFile[];
  /** A response_url this server accepts; what is posted to it shows up in responses(id). */
  responseUrl(id: string): string;
  responses(id?: string): RecordedResponse[];
  close(): Promise<void>;
}
