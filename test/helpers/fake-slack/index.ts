/**
 * A local stand-in for Slack's Web API: the real WebClient (and Bolt on top of it) talks to it over HTTP, it answers
 * with the shapes Slack documents, records every call, and lets a test script failures and slow answers. The methods
 * live one family a file (chat, conversations, users, files, views), on the workspace state in state.ts.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HoldState } from '../hold.ts';
import { chatMethods } from './chat.ts';
import { conversationMethods } from './conversations.ts';
import { fileMethods, receiveUpload } from './files.ts';
import { type Answer, type Handler, notFound, ok, parseBody, platformError, scripted, send, str } from './http.ts';
import { MethodRateLimits } from './rate-limits.ts';
import { SlackState } from './state.ts';
import type { FakeSlack, FakeSlackOptions, RecordedCall, ScriptedFailure } from './types.ts';
import { userMethods } from './users.ts';
import { viewMethods } from './views.ts';

export type { Hold } from '../hold.ts';
export type * from './types.ts';

/** A response_url on a running fake, for building slash-command and block_actions payloads. */
export function responseUrl(slack: FakeSlack, id: string): string {
  return slack.responseUrl(id);
}

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const state = new SlackState(options);
  const handlers: Record<string, Handler> = {
    ...userMethods(state),
    ...chatMethods(state),
    ...conversationMethods(state),
    ...fileMethods(state),
    ...viewMethods(state),
  };

  const calls: RecordedCall[] = [];
  const callListeners = new Set<() => void>();
  const failures = new Map<string, ScriptedFailure[]>();
  const delays = new Map<string, number>();
  const holds = new Map<string, HoldState>();
  const afterHandled = new Map<string, (body: Record<string, unknown>) => Promise<void> | void>();
  const rateLimits = new MethodRateLimits();

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
    return token === state.botToken ? undefined : platformError('invalid_auth');
  }

  async function route(request: IncomingMessage): Promise<Answer> {
    const url = new URL(request.url ?? '/', state.origin);
    const parsed = await parseBody(request, url);

    const api = /^\/api\/([\w.]+)$/.exec(url.pathname);
    if (api?.[1]) {
      const method = api[1];
      record(method, parsed.body, request.headers);
      await pace(method);
      const failure = takeFailure(method);
      if (failure) return scripted(failure);
      const limited = rateLimits.check(method, performance.now());
      if (limited) return limited;
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
      const id = state.uploadTokens.get(upload[1]);
      const bytes = parsed.files[0]?.bytes ?? parsed.raw;
      record('upload', { file_id: id, length: bytes.length, filename: parsed.files[0]?.filename }, request.headers);
      await pace('upload');
      const failure = takeFailure('upload');
      if (failure) return scripted(failure);
      return receiveUpload(state, id, parsed);
    }

    const response = /^\/response\/([^/]+)$/.exec(url.pathname);
    if (response?.[1] && request.method === 'POST') {
      const id = decodeURIComponent(response[1]);
      record('response_url', parsed.body, request.headers);
      await pace('response_url');
      const failure = takeFailure('response_url');
      if (failure) return scripted(failure);
      state.responses.push({ id, body: parsed.body, at: performance.now() });
      return { status: 200, body: { ok: true } };
    }

    return notFound();
  }

  const server = createServer((request, response) => {
    route(request).then(
      (answer) => send(response, answer),
      (error: unknown) =>
        send(response, { status: 500, body: { ok: false, error: 'fatal_error', detail: String(error) } }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  state.origin = origin;

  const fake: FakeSlack = {
    url: `${origin}/api/`,
    origin,
    botToken: state.botToken,
    teamId: state.teamId,
    botUserId: state.botUserId,
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
          const got = `got ${fake.callsTo(method).length} (calls: ${seen})`;
          reject(new Error(`fake Slack: expected ${n} ${method} call(s) within ${timeoutMs} ms, ${got}`));
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
    rateLimit: (method, limit) => rateLimits.set(method, limit),
    rateLimitedCalls: (method) => rateLimits.refusals(method),
    hold(method) {
      const gate = new HoldState(() => holds.delete(method), 'fake Slack');
      holds.set(method, gate);
      return gate;
    },
    channelId: (nameOrId) => state.ensureChannel(nameOrId).id,
    messages(channel) {
      const id = state.ensureChannel(channel).id;
      return state.messages.filter((m) => m.channel === id).map((m) => state.publicMessage(m));
    },
    ephemerals(channel) {
      const id = channel === undefined ? undefined : state.ensureChannel(channel).id;
      return state.ephemerals.filter((e) => id === undefined || e.channel === id).map((e) => structuredClone(e));
    },
    addUser: (user) => void state.users.set(user.id, user),
    homeView(userId) {
      const id = state.homeViewIds.get(userId);
      const view = id === undefined ? undefined : state.views.get(id);
      return view && structuredClone(view);
    },
    modals: () => [...state.views.values()].filter((v) => v.view.type === 'modal').map((v) => structuredClone(v)),
    setUsergroupMembers: (usergroupId, userIds) => void state.usergroups.set(usergroupId, [...userIds]),
    files: () => [...state.files.values()].map((f) => ({ ...f })),
    responseUrl: (id) => `${origin}/response/${encodeURIComponent(id)}`,
    responses: (id) => state.responses.filter((r) => id === undefined || r.id === id),
    async close() {
      for (const gate of holds.values()) gate.release();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
  return fake;
}
