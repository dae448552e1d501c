/**
 * A local stand-in for Segment: the Public API resources that Revert reads and patches (SPEC section 7), its audit
 * trail (`GET /audit-events`, newest first, cursor-paged) and workspace (`GET /`) that the import reads (SPEC section
 * 11), and the HTTP Tracking API batch endpoint that forwarding posts to (SPEC section 9), with a call log and
 * scripted failures.
 */
import { Buffer } from 'node:buffer';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Hold, HoldState } from './hold.ts';

export interface SegmentCall {
  api: 'public' | 'tracking';
  method: string;
  /** The path without query string, e.g. `/warehouses/wh_1` or `/v1/batch`. */
  path: string;
  /** The query string's parameters, e.g. `pagination.cursor`. */
  query: URLSearchParams;
  /** The parsed JSON body, or the raw text when it was not JSON, or undefined when there was none. */
  body: unknown;
  headers: IncomingHttpHeaders;
  /** performance.now() when the request arrived, in milliseconds. */
  at: number;
}

/**
 * A scripted answer: 429 (with `Retry-After`, 1 second unless given) or any other status, with Segment's error body
 * unless one is given.
 */
export interface SegmentFailure {
  status: number;
  /** Seconds; null sends no Retry-After (to test X-RateLimit-Reset or the body's msBeforeNext instead). */
  retryAfter?: number | null;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A Public API audit event (AuditEventV1). */
export interface AuditEventRecord {
  id: string;
  timestamp: string;
  type: string;
  actor: string;
  actorEmail?: string;
  resourceId: string;
  resourceType: string;
  resourceName: string;
}

/** Segment's documented maximum for `pagination.count` on GET /audit-events. */
export const MAX_AUDIT_PAGE = 200;

/** A Public API resource as Segment returns it; tests read and set whole objects. */
export type SegmentResource = Record<string, unknown> & { id: string };

export type ResourceInput = Partial<SegmentResource> & { id: string };

export interface TrackingBatch {
  writeKey: string;
  body: { batch: Record<string, unknown>[] } & Record<string, unknown>;
  at: number;
}

export interface FakeSegmentOptions {
  /** The Public API token requests must carry as `Authorization: Bearer …`; default `sgp_test`. */
  apiToken?: string;
  workspaceId?: string;
  /** Tracking API limits; Segment documents 500 KB per batch and 32 KB per event. */
  maxBatchBytes?: number;
  maxEventBytes?: number;
  /**
   * The Public API's rate limit: at most `requests` per fixed window of `windowMs`, as Segment counts them per token;
   * beyond it a 429 with Segment's documented body (`data.msBeforeNext` until the window ends) and no Retry-After.
   */
  rateLimit?: { requests: number; windowMs: number };
}

export interface FakeSegment {
  /** For SEGMENT_API_URL: `http://127.0.0.1:PORT`, no trailing slash, like `https://api.segmentapis.com`. */
  readonly publicApiUrl: string;
  /** For SEGMENT_TRACKING_URL: `http://127.0.0.1:PORT/v1`, like `https://api.segment.io/v1`. */
  readonly trackingUrl: string;
  /** The token the Public API currently accepts. */
  readonly apiToken: string;
  /** Changes the token the Public API accepts, as revoking one and issuing another would. */
  setApiToken(token: string): void;
  readonly workspaceId: string;
  readonly calls: SegmentCall[];
  /** Calls matching a route: `PATCH /warehouses/wh_1`, `/warehouses` (any method, that path or below) or `*`. */
  callsTo(route: string): SegmentCall[];
  waitForCalls(route: string, n: number, timeoutMs?: number): Promise<SegmentCall[]>;
  /** Queues a failure for the next request matching the route. */
  failNext(route: string, failure: SegmentFailure, options?: { skip?: number }): void;
  /** Answers requests matching the route `ms` later; 0 removes the delay. */
  setDelay(route: string, ms: number): void;
  /** Keeps requests matching the route waiting until released; with `after`, the first `after` go through. */
  hold(route: string, options?: { after?: number }): Hold;
  /** Public API calls answered 429 by the rate limit (not scripted failures). */
  rateLimited(): number;

  setSource(source: ResourceInput): SegmentResource;
  getSource(id: string): SegmentResource | undefined;
  setDestination(destination: ResourceInput): SegmentResource;
  getDestination(id: string): SegmentResource | undefined;
  setWarehouse(warehouse: ResourceInput): SegmentResource;
  getWarehouse(id: string): SegmentResource | undefined;
  setFilter(destinationId: string, filter: ResourceInput): SegmentResource;
  getFilter(destinationId: string, id: string): SegmentResource | undefined;
  setFunction(fn: ResourceInput): SegmentResource;
  getFunction(id: string): SegmentResource | undefined;
  setTrackingPlan(plan: ResourceInput): SegmentResource;
  getTrackingPlan(id: string): SegmentResource | undefined;

  /** Adds events to the workspace's audit trail (at any time: an older one added later is a late arrival). */
  addAuditEvents(events: readonly AuditEventRecord[]): void;
  auditEvents(): AuditEventRecord[];

  /** Batches accepted by the Tracking API, oldest first. */
  batches(writeKey?: string): TrackingBatch[];
  /** The calls inside accepted batches, flattened. */
  trackedEvents(writeKey?: string): Record<string, unknown>[];
  /**
   * The calls Segment would keep: it de-duplicates on messageId across every source and workspace (for about a day),
   * so a call whose messageId came earlier, under any write key, is dropped even though its batch got a 200.
   */
  keptEvents(writeKey?: string): Record<string, unknown>[];
  close(): Promise<void>;
}

type Kind = 'sources' | 'destinations' | 'warehouses' | 'filters' | 'functions' | 'tracking-plans';

interface KindRules {
  /** The key under `data` in Segment's answers. */
  key: string;
  /** Fields a PATCH may carry (UpdateXV1Input in Segment's API); anything else is a validation failure. */
  patchable: Readonly<Record<string, FieldCheck>>;
  required?: readonly string[];
  /**
   * A PATCH upserts `settings` key by key, and a key sent as null is removed, as Segment does for sources,
   * destinations and warehouses (its Terraform provider sends null for each key it wants gone).
   */
  upsertsSettings?: boolean;
}

type FieldCheck = 'string' | 'boolean' | 'object' | 'array' | 'object-or-array' | 'nullable-string';

const KINDS: Readonly<Record<Kind, KindRules>> = {
  sources: {
    key: 'source',
    patchable: { name: 'string', slug: 'string', enabled: 'boolean', settings: 'object' },
    upsertsSettings: true,
  },
  destinations: {
    key: 'destination',
    patchable: { name: 'string', enabled: 'boolean', settings: 'object' },
    upsertsSettings: true,
  },
  // Segment's UpdateWarehouseV1Input requires settings, which is why Revert reads them first.
  warehouses: {
    key: 'warehouse',
    patchable: { name: 'nullable-string', enabled: 'boolean', settings: 'object' },
    required: ['settings'],
    upsertsSettings: true,
  },
  filters: {
    key: 'filter',
    patchable: {
      sourceId: 'string',
      if: 'string',
      actions: 'array',
      title: 'string',
      description: 'string',
      enabled: 'boolean',
    },
  },
  functions: {
    key: 'function',
    patchable: {
      code: 'string',
      settings: 'object-or-array',
      displayName: 'string',
      description: 'string',
      logoUrl: 'string',
    },
  },
  'tracking-plans': { key: 'trackingPlan', patchable: { name: 'string', description: 'string' } },
};

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export async function startFakeSegment(options: FakeSegmentOptions = {}): Promise<FakeSegment> {
  let apiToken = options.apiToken ?? 'sgp_test';
  const workspaceId = options.workspaceId ?? '9aQ1Lj62S4bomZKLF4DPqW';
  const maxBatchBytes = options.maxBatchBytes ?? 500 * 1024;
  const maxEventBytes = options.maxEventBytes ?? 32 * 1024;

  const calls: SegmentCall[] = [];
  const callListeners = new Set<() => void>();
  /** `skip`: matching requests still answered normally before this failure is given. */
  const failures: { route: string; failure: SegmentFailure; skip: number }[] = [];
  const delays = new Map<string, number>();
  const holds = new Map<string, { state: HoldState; passes: number }>();
  const batches: TrackingBatch[] = [];
  const auditTrail: AuditEventRecord[] = [];
  let trailSorted = true;
  const sortedTrail = (): AuditEventRecord[] => {
    if (!trailSorted) {
      // By code unit, as the cursor compares: newest first, then the greater id first.
      const before = (x: string, y: string) => (x < y ? 1 : x > y ? -1 : 0);
      auditTrail.sort((a, b) => before(a.timestamp, b.timestamp) || before(a.id, b.id));
      trailSorted = true;
    }
    return auditTrail;
  };
  const store: Record<Kind, Map<string, SegmentResource>> = {
    sources: new Map(),
    destinations: new Map(),
    warehouses: new Map(),
    filters: new Map(),
    functions: new Map(),
    'tracking-plans': new Map(),
  };

  function record(call: Omit<SegmentCall, 'at'>): void {
    calls.push({ ...call, at: performance.now() });
    for (const listener of [...callListeners]) listener();
  }

  async function pace(method: string, path: string): Promise<void> {
    const delay = [...delays].find(([route]) => matches(route, method, path))?.[1] ?? 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const gate = [...holds].find(([route]) => matches(route, method, path))?.[1];
    if (!gate || gate.state.released) return;
    if (gate.passes > 0) {
      gate.passes -= 1;
      return;
    }
    await gate.state.enter();
  }

  function takeFailure(method: string, path: string): SegmentFailure | undefined {
    const index = failures.findIndex((f) => matches(f.route, method, path));
    if (index < 0) return undefined;
    const queued = failures[index]!;
    if (queued.skip > 0) {
      queued.skip -= 1;
      return undefined;
    }
    return failures.splice(index, 1)[0]?.failure;
  }

  let windowStart = 0;
  let windowCount = 0;
  let rateLimitedCalls = 0;
  /** Fixed windows from the first call, like Segment's X-RateLimit-Reset: the count starts over when one ends. */
  function overRateLimit(): Answer | undefined {
    const limit = options.rateLimit;
    if (!limit) return undefined;
    const now = performance.now();
    if (now - windowStart >= limit.windowMs) {
      windowStart = now;
      windowCount = 0;
    }
    windowCount += 1;
    if (windowCount <= limit.requests) return undefined;
    rateLimitedCalls += 1;
    const msBeforeNext = Math.max(1, Math.ceil(windowStart + limit.windowMs - now));
    return {
      status: 429,
      body: {
        errors: [
          {
            type: 'RequestError',
            message: 'Too many requests',
            data: { remainingPoints: 0, msBeforeNext, consumedPoints: windowCount },
          },
        ],
      },
    };
  }

  async function route(request: IncomingMessage): Promise<Answer> {
    const url = new URL(request.url ?? '/', publicApiUrl);
    const method = request.method ?? 'GET';
    const path = url.pathname;
    const raw = await readBody(request);
    const body = parseJson(raw);
    const api = path.startsWith('/v1/') ? 'tracking' : 'public';
    const parsedBody = body.ok ? body.value : raw.length ? raw.toString('utf8') : undefined;
    record({ api, method, path, query: url.searchParams, body: parsedBody, headers: request.headers });
    await pace(method, path);
    const failure = takeFailure(method, path);
    if (failure) return scripted(failure, api);
    const limited = api === 'public' ? overRateLimit() : undefined;
    if (limited) return limited;
    return api === 'tracking' ? tracking(request, method, path, raw, body) : publicApi(request, method, url, body);
  }

  function publicApi(request: IncomingMessage, method: string, url: URL, body: JsonResult): Answer {
    const path = url.pathname;
    const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (bearer !== apiToken)
      return segmentError(401, 'unauthorized', 'Unauthorized: a valid Public API token is required');
    if (method === 'GET' && path === '/') {
      return { status: 200, body: { data: { workspace: { id: workspaceId, slug: 'acme', name: 'Acme' } } } };
    }
    if (method === 'GET' && path === '/audit-events') return listAuditEvents(url.searchParams);

    const target = resourcePath(path);
    if (!target) return segmentError(404, 'not-found', `No route for ${method} ${path}`);
    const rules = KINDS[target.kind];
    const resource = store[target.kind].get(target.key);
    if (!resource) return segmentError(404, 'not-found', 'Resource not found');

    if (method === 'GET') return { status: 200, body: { data: { [rules.key]: structuredClone(resource) } } };
    if (method !== 'PATCH') return segmentError(405, 'method-not-allowed', `${method} is not supported on ${path}`);

    if (!body.ok || !isRecord(body.value))
      return segmentError(400, 'bad-request', 'The request body must be a JSON object');
    const patch = body.value;
    const problems = validatePatch(rules, patch);
    if (problems.length)
      return { status: 422, body: { errors: problems.map((message) => ({ type: 'validation', message })) } };

    for (const [field, value] of Object.entries(structuredClone(patch))) {
      resource[field] =
        field === 'settings' && rules.upsertsSettings ? upsertSettings(resource.settings, value) : value;
    }
    if ('updatedAt' in resource) resource.updatedAt = new Date().toISOString();
    const data =
      target.kind === 'tracking-plans'
        ? // Older API versions answered only `status`; newer ones return the plan too. Both are here.
          { status: 'SUCCESS', trackingPlan: structuredClone(resource) }
        : { [rules.key]: structuredClone(resource) };
    return { status: 200, body: { data } };
  }

  /**
   * GET /audit-events: newest first, `startTime` and `endTime` bounding the timestamps, `pagination.count` ≤ 200. The
   * cursor pins the end of the listing and the position after the last event served, so events added meanwhile do
   * not shift the pages (a late arrival older than the position still shows up on a later page).
   */
  function listAuditEvents(query: URLSearchParams): Answer {
    const count = Number(query.get('pagination.count'));
    if (!Number.isInteger(count) || count < 1 || count > MAX_AUDIT_PAGE) {
      return segmentError(422, 'validation', `pagination.count must be a whole number from 1 to ${MAX_AUDIT_PAGE}`);
    }
    const start = query.get('startTime');
    if (start !== null && Number.isNaN(Date.parse(start)))
      return segmentError(422, 'validation', 'startTime must be an ISO 8601 time');
    const cursorText = query.get('pagination.cursor');
    let cursor: { end: string; after?: [string, string] } | undefined;
    if (cursorText !== null) {
      const decoded = parseJson(Buffer.from(cursorText, 'base64url'));
      if (!decoded.ok || !isRecord(decoded.value) || typeof decoded.value.end !== 'string') {
        return segmentError(400, 'bad-request', 'Invalid pagination cursor');
      }
      cursor = decoded.value as typeof cursor;
    }
    const end = cursor?.end ?? query.get('endTime') ?? new Date().toISOString();
    // Kept newest first (sorted once after each addition), so a page is two binary searches and a slice: the
    // benchmark pages through 100k events and must measure the importer, not this fake.
    const trail = sortedTrail();
    const endMs = Date.parse(end);
    const startMs = start === null ? Number.NEGATIVE_INFINITY : Date.parse(start);
    const firstIn = firstIndex(trail, (e) => Date.parse(e.timestamp) <= endMs);
    const pastWindow = firstIndex(trail, (e) => Date.parse(e.timestamp) < startMs);
    const after = cursor?.after;
    const from = after
      ? Math.max(
          firstIn,
          firstIndex(trail, (e) => e.timestamp < after[0] || (e.timestamp === after[0] && e.id < after[1])),
        )
      : firstIn;
    const page = trail.slice(from, Math.min(from + count, pastWindow));
    const last = page.at(-1);
    const next =
      from + count < pastWindow && last
        ? Buffer.from(JSON.stringify({ end, after: [last.timestamp, last.id] })).toString('base64url')
        : null;
    const pagination = { current: cursorText ?? 'MA==', next, totalEntries: Math.max(0, pastWindow - firstIn) };
    return { status: 200, body: { data: { events: structuredClone(page), pagination } } };
  }

  function tracking(request: IncomingMessage, method: string, path: string, raw: Buffer, body: JsonResult): Answer {
    if (method !== 'POST' || path !== '/v1/batch') return trackingError(404, `No route for ${method} ${path}`);
    const writeKey = basicUser(request.headers.authorization);
    if (!writeKey) return trackingError(401, 'A write key is required as the basic auth user');
    if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
      return trackingError(400, 'Content-Type must be application/json');
    }
    if (raw.length > maxBatchBytes) return trackingError(400, `Batch of ${raw.length} bytes exceeds ${maxBatchBytes}`);
    if (!body.ok || !isRecord(body.value) || !Array.isArray(body.value.batch)) {
      return trackingError(400, 'Invalid JSON: expected {"batch": [...]}');
    }
    for (const [index, event] of body.value.batch.entries()) {
      const size = Buffer.byteLength(JSON.stringify(event));
      if (size > maxEventBytes) return trackingError(400, `Event ${index} of ${size} bytes exceeds ${maxEventBytes}`);
    }
    batches.push({ writeKey, body: structuredClone(body.value) as TrackingBatch['body'], at: performance.now() });
    // Segment answers 200 for everything it can parse, even calls it later drops, and leaves the rest to its debugger.
    return { status: 200, body: { success: true } };
  }

  const server = createServer((request, response) => {
    route(request).then(
      (answer) => send(response, answer),
      (error: unknown) => send(response, segmentError(500, 'internal', String(error))),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const publicApiUrl = `http://127.0.0.1:${port}`;

  function put(kind: Kind, key: string, resource: SegmentResource): SegmentResource {
    store[kind].set(key, structuredClone(resource));
    return structuredClone(resource);
  }

  function get(kind: Kind, key: string): SegmentResource | undefined {
    const found = store[kind].get(key);
    return found ? structuredClone(found) : undefined;
  }

  const now = (): string => new Date().toISOString();
  const fake: FakeSegment = {
    publicApiUrl,
    trackingUrl: `${publicApiUrl}/v1`,
    get apiToken() {
      return apiToken;
    },
    setApiToken(token) {
      apiToken = token;
    },
    workspaceId,
    calls,
    callsTo: (route) => calls.filter((c) => matches(route, c.method, c.path)),
    waitForCalls(route, n, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = fake.callsTo(route);
          if (found.length < n) return;
          callListeners.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          callListeners.delete(check);
          const seen = calls.map((c) => `${c.method} ${c.path}`).join(', ') || 'none';
          reject(
            new Error(
              `fake Segment: expected ${n} call(s) to ${route} within ${timeoutMs} ms, ` +
                `got ${fake.callsTo(route).length} (calls: ${seen})`,
            ),
          );
        }, timeoutMs);
        callListeners.add(check);
        check();
      });
    },
    failNext: (route, failure, options) => void failures.push({ route, failure, skip: options?.skip ?? 0 }),
    setDelay(route, ms) {
      if (ms > 0) delays.set(route, ms);
      else delays.delete(route);
    },
    hold(route, options) {
      const state = new HoldState(() => holds.delete(route), 'fake Segment');
      holds.set(route, { state, passes: options?.after ?? 0 });
      return state;
    },
    rateLimited: () => rateLimitedCalls,

    setSource: (source) =>
      put('sources', source.id, {
        slug: source.id,
        name: source.id,
        workspaceId,
        enabled: true,
        writeKeys: [],
        settings: {},
        labels: [],
        metadata: {
          id: 'IqDTy1TpoU',
          slug: 'javascript',
          name: 'Javascript',
          categories: ['Website'],
          logos: {},
          options: [],
        },
        ...source,
      }),
    getSource: (id) => get('sources', id),
    setDestination: (destination) =>
      put('destinations', destination.id, {
        name: destination.id,
        enabled: true,
        sourceId: 'src_fake',
        settings: {},
        metadata: { id: '54521fd725e721e32a72eec6', slug: 'webhooks', name: 'Webhooks', logos: {}, options: [] },
        ...destination,
      }),
    getDestination: (id) => get('destinations', id),
    setWarehouse: (warehouse) =>
      put('warehouses', warehouse.id, {
        workspaceId,
        enabled: true,
        settings: { name: warehouse.id },
        metadata: { id: 'aea3c5f8', slug: 'snowflake', name: 'Snowflake', logos: {}, options: [] },
        ...warehouse,
      }),
    getWarehouse: (id) => get('warehouses', id),
    setFilter: (destinationId, filter) =>
      put('filters', `${destinationId}/${filter.id}`, {
        sourceId: 'src_fake',
        destinationId,
        if: 'all',
        actions: [{ type: 'DROP' }],
        title: filter.id,
        enabled: true,
        createdAt: now(),
        updatedAt: now(),
        ...filter,
      }),
    getFilter: (destinationId, id) => get('filters', `${destinationId}/${id}`),
    setFunction: (fn) =>
      put('functions', fn.id, {
        resourceType: 'SOURCE',
        displayName: fn.id,
        description: '',
        code: 'async function onRequest(request, settings) {}',
        settings: [],
        createdAt: now(),
        createdBy: 'usr_fake',
        deployedAt: null,
        ...fn,
      }),
    getFunction: (id) => get('functions', id),
    setTrackingPlan: (plan) =>
      put('tracking-plans', plan.id, {
        name: plan.id,
        slug: plan.id,
        description: '',
        type: 'LIVE',
        createdAt: now(),
        updatedAt: now(),
        ...plan,
      }),
    getTrackingPlan: (id) => get('tracking-plans', id),

    addAuditEvents(events) {
      for (const event of structuredClone(events)) auditTrail.push(event);
      trailSorted = false;
    },
    auditEvents: () => structuredClone(auditTrail),
    batches: (writeKey) =>
      batches.filter((b) => writeKey === undefined || b.writeKey === writeKey).map((b) => structuredClone(b)),
    trackedEvents: (writeKey) => fake.batches(writeKey).flatMap((b) => b.body.batch),
    keptEvents(writeKey) {
      const seen = new Set<unknown>();
      const kept: { writeKey: string; call: Record<string, unknown> }[] = [];
      for (const batch of fake.batches()) {
        for (const call of batch.body.batch) {
          if (seen.has(call.messageId)) continue;
          seen.add(call.messageId);
          kept.push({ writeKey: batch.writeKey, call });
        }
      }
      return kept.filter((k) => writeKey === undefined || k.writeKey === writeKey).map((k) => k.call);
    },
    async close() {
      for (const hold of holds.values()) hold.state.release();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
  return fake;
}

/** The first index whose element meets `test`, for a predicate that is false up to some index and true after. */
function firstIndex<T>(items: readonly T[], test: (item: T) => boolean): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (test(items[middle]!)) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** `PATCH /warehouses/wh_1` matches that request; `/warehouses` matches any method on it or below; `*` matches all. */
function matches(route: string, method: string, path: string): boolean {
  if (route === '*') return true;
  const spaced = /^([A-Z]+)\s+(\S+)$/.exec(route);
  const routeMethod = spaced?.[1];
  const routePath = spaced?.[2] ?? route;
  if (routeMethod && routeMethod !== method) return false;
  return path === routePath || path.startsWith(routePath.endsWith('/') ? routePath : `${routePath}/`);
}

function resourcePath(path: string): { kind: Kind; key: string } | undefined {
  const segments = path.split('/').slice(1).map(decodeURIComponent);
  const [first, second, third, fourth] = segments;
  if (segments.length === 4 && first === 'destination' && second && third === 'filters' && fourth) {
    return { kind: 'filters', key: `${second}/${fourth}` };
  }
  if (segments.length === 2 && first && second && first in KINDS && first !== 'filters') {
    return { kind: first as Kind, key: second };
  }
  return undefined;
}

function validatePatch(rules: KindRules, patch: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const keys = Object.keys(patch);
  if (keys.length === 0) problems.push('At least one field must be updated');
  for (const key of keys) {
    const check = rules.patchable[key];
    if (!check)
      problems.push(`Unknown field "${key}"; this resource accepts ${Object.keys(rules.patchable).join(', ')}`);
    else if (!fits(check, patch[key])) problems.push(`Field "${key}" must be ${check.replace(/-/g, ' ')}`);
  }
  for (const key of rules.required ?? []) {
    if (!(key in patch)) problems.push(`Field "${key}" is required`);
  }
  return problems;
}

/** Segment's settings update: each key sent replaces that key, null removes it, and keys not sent stay. */
function upsertSettings(current: unknown, patch: unknown): Record<string, unknown> {
  const settings: Record<string, unknown> = isRecord(current) ? { ...current } : {};
  for (const [key, value] of Object.entries(isRecord(patch) ? patch : {})) {
    if (value === null) delete settings[key];
    else settings[key] = value;
  }
  return settings;
}

function fits(check: FieldCheck, value: unknown): boolean {
  switch (check) {
    case 'string':
      return typeof value === 'string';
    case 'nullable-string':
      return value === null || typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return isRecord(value);
    case 'array':
      return Array.isArray(value);
    case 'object-or-array':
      return isRecord(value) || Array.isArray(value);
  }
}

/** The Public API's error body: a list of `{ type, message }`. */
function segmentError(status: number, type: string, message: string): Answer {
  return { status, body: { errors: [{ type, message }] } };
}

function trackingError(status: number, message: string): Answer {
  return { status, body: { success: false, message } };
}

function scripted(failure: SegmentFailure, api: 'public' | 'tracking'): Answer {
  const message = failure.status === 429 ? 'Too many requests' : `Scripted failure ${failure.status}`;
  const fallback =
    api === 'public'
      ? segmentError(failure.status, failure.status === 429 ? 'too-many-requests' : 'scripted', message).body
      : { success: false, message };
  const retryAfter: Record<string, string> =
    failure.status === 429 && failure.retryAfter !== null ? { 'retry-after': String(failure.retryAfter ?? 1) } : {};
  return { status: failure.status, body: failure.body ?? fallback, headers: { ...retryAfter, ...failure.headers } };
}

function send(response: ServerResponse, answer: Answer): void {
  response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
  response.end(JSON.stringify(answer.body));
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

type JsonResult = { ok: true; value: unknown } | { ok: false };

function parseJson(raw: Buffer): JsonResult {
  if (raw.length === 0) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(raw.toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

/** The user part of `Authorization: Basic base64(user:password)`: Segment's write key. */
function basicUser(header: string | undefined): string | undefined {
  const encoded = /^Basic\s+(.+)$/i.exec(header ?? '')?.[1];
  if (!encoded) return undefined;
  const user = Buffer.from(encoded, 'base64').toString('utf8').split(':')[0];
  return user || undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export type { Hold };
