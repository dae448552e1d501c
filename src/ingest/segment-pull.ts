/**
 * Segment's own audit trail by pull (SPEC section 11): polls the Public API's `GET /audit-events` every
 * SEGMENT_PULL_INTERVAL and stores what it finds in SEGMENT_PULL_WORKSPACE, the first time reaching back
 * SEGMENT_PULL_SINCE. Segment pages newest first, so progress is a window read to its end (see the
 * `segment_imports` table): each page's events and the cursor after it commit together, a restart resumes at the
 * saved cursor, and only a finished window moves the watermark the next one starts from, a few minutes early, so
 * late arrivals are read again and de-duplicated by id. A failure (bad token, rate limit, outage) is recorded for
 * `/audit import status`, counted, and retried with backoff; nothing else in the service waits on it.
 */
import { z } from 'zod';
import type { IncomingEvent } from '../events.ts';
import { incomingEventSchema } from '../events.ts';
import type { Logger } from '../logger.ts';
import { exponentialDelay, withJitter } from '../retry.ts';
import { createSegmentClient, SegmentApiError, type SegmentClient } from '../revert/segment-client.ts';
import { appendEvents } from '../store/append.ts';
import type { Db, DbOrTx } from '../store/db.ts';
import { storedEventIds } from '../store/queries.ts';
import type { SegmentImportRow } from '../store/schema/index.ts';
import {
  getSegmentImport,
  type ImportFailure,
  lockSegmentImport,
  recordImportedPage,
  recordImportFailure,
  recordSegmentWorkspace,
} from '../store/segment-import.ts';
import { withCatalogType } from './catalog-type.ts';
import { segmentAuditEventId } from './segment-ids.ts';
import { SEGMENT_SYSTEM_ACTOR } from './segment-push.ts';

/** Why a poll failed, as `audit_import_errors_total{kind}` counts it. */
export const IMPORT_ERROR_KINDS = [
  'unauthorized',
  'forbidden',
  'rate_limited',
  'server_error',
  'timeout',
  'network',
  'not_found',
  'rejected',
  'bad_response',
  'invalid_event',
  'store',
] as const;
export type ImportErrorKind = (typeof IMPORT_ERROR_KINDS)[number];

export interface SegmentImporterOptions {
  /** SEGMENT_PULL_WORKSPACE: the audit workspace the events are stored in. */
  workspaceId: string;
  /** SEGMENT_API_URL and SEGMENT_API_TOKEN. */
  apiUrl: string;
  apiToken: string;
  /** SEGMENT_PULL_INTERVAL and SEGMENT_PULL_SINCE. */
  intervalMs: number;
  sinceMs: number;
  /** How far before the watermark each window starts, to catch events Segment lists late. */
  overlapMs?: number;
  /** `pagination.count`; Segment's limit is 200. */
  pageSize?: number;
  /** First wait after a failed poll, doubling per failure in a row (with jitter) up to maxBackoffMs. */
  backoffBaseMs?: number;
  maxBackoffMs?: number;
  /** Per request to Segment. */
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
  onImported?: (events: number) => void;
  onError?: (kind: ImportErrorKind) => void;
  onSuccess?: (at: Date) => void;
}

const DEFAULTS = {
  overlapMs: 5 * 60_000,
  pageSize: 200,
  backoffBaseMs: 5_000,
  maxBackoffMs: 15 * 60_000,
  timeoutMs: 15_000,
};

/** A Retry-After longer than this is taken as a mistake rather than a reason to stop for a day. */
const MAX_RATE_LIMIT_WAIT_MS = 60 * 60_000;

/** AuditEventV1 in Segment's Public API: what this service needs of each item of `data.events`. */
const publicAuditEventSchema = z.looseObject({
  id: z.string().min(1),
  timestamp: z.string().min(1),
  type: z.string().min(1),
  actor: z.string().min(1),
  actorEmail: z.string().nullish(),
  resourceId: z.string().min(1),
  resourceType: z.string().min(1),
  resourceName: z.string().nullish(),
});

const pageSchema = z.object({
  events: z.array(z.unknown()),
  pagination: z
    .object({ current: z.string().nullish(), next: z.string().nullish(), totalEntries: z.number().nullish() })
    .nullish(),
});

const workspaceSchema = z.object({ workspace: z.object({ id: z.string().min(1) }) });

/** A failure this module found itself (an answer it cannot read), beside the client's SegmentApiError. */
class ImportError extends Error {
  constructor(
    readonly kind: ImportErrorKind,
    message: string,
  ) {
    super(message);
  }
}

type Step =
  | { kind: 'page'; more: boolean; stored: number; newest?: Date }
  | { kind: 'failed'; error: ImportErrorKind; nextPollAt: Date }
  | { kind: 'busy' }
  | { kind: 'not-due'; at: Date };

export type PollOutcome =
  | { kind: 'done'; pages: number; stored: number }
  | { kind: 'failed'; error: ImportErrorKind; nextPollAt: Date }
  /** Another replica holds the import. */
  | { kind: 'busy' }
  /** A backoff or the next regular poll is not due yet. */
  | { kind: 'not-due'; at: Date }
  | { kind: 'stopped' };

export class SegmentImporter {
  private readonly options: Required<
    Omit<SegmentImporterOptions, 'fetchImpl' | 'onImported' | 'onError' | 'onSuccess'>
  > &
    SegmentImporterOptions;
  private readonly client: SegmentClient;
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PollOutcome> | undefined;
  private stopping = false;
  /** Learned once per process from `GET /`. */
  private segmentWorkspaceId: string | undefined;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    options: SegmentImporterOptions,
  ) {
    this.options = { ...DEFAULTS, ...options };
    const fetchImpl = options.fetchImpl ?? globalThis.fetch;
    this.client = createSegmentClient({
      apiUrl: options.apiUrl,
      apiToken: options.apiToken,
      timeoutMs: this.options.timeoutMs,
      // The importer waits and retries by its own timer, recording each failure for status and metrics.
      retry: { rateLimitRetries: 0, serverErrorRetries: 0 },
      // Stopping aborts a request in flight rather than waiting out its timeout.
      fetchImpl: (input, init) =>
        fetchImpl(input, {
          ...init,
          signal: init?.signal ? AbortSignal.any([init.signal, this.abort.signal]) : this.abort.signal,
        }),
    });
  }

  /** Starts polling in the background; never fails because Segment does. */
  async start(): Promise<void> {
    const row = await getSegmentImport(this.db, this.options.workspaceId).catch(() => undefined);
    if (row?.lastSuccessAt) this.options.onSuccess?.(row.lastSuccessAt);
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }

  /** One poll now: every page of the current window, or until a failure (for tests and the benchmark). */
  pollNow(): Promise<PollOutcome> {
    if (this.running) return this.running;
    const run = this.poll().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private schedule(delayMs: number): void {
    if (this.stopping) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), Math.max(0, delayMs));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const outcome = await this.pollNow().catch((error: unknown): PollOutcome => {
      if (this.stopping) return { kind: 'stopped' };
      // Postgres away or a bug: logged, retried later; Segment's failures never get here.
      this.logger.error({ err: error }, 'Segment import poll failed; retrying');
      this.options.onError?.('store');
      return { kind: 'failed', error: 'store', nextPollAt: new Date(Date.now() + this.options.backoffBaseMs) };
    });
    const now = Date.now();
    switch (outcome.kind) {
      case 'done':
      case 'busy':
        this.schedule(this.options.intervalMs);
        return;
      case 'failed':
        this.schedule(outcome.nextPollAt.getTime() - now);
        return;
      case 'not-due':
        this.schedule(Math.min(outcome.at.getTime() - now, this.options.intervalMs));
        return;
      case 'stopped':
        return;
    }
  }

  private async poll(): Promise<PollOutcome> {
    let pages = 0;
    let stored = 0;
    for (;;) {
      if (this.stopping) return { kind: 'stopped' };
      const step = await this.step();
      if (step.kind !== 'page') {
        if (step.kind === 'failed') this.options.onError?.(step.error);
        return step;
      }
      pages += 1;
      stored += step.stored;
      this.options.onSuccess?.(new Date());
      if (step.stored) this.options.onImported?.(step.stored);
      if (!step.more) {
        const log = stored ? this.logger.info.bind(this.logger) : this.logger.debug.bind(this.logger);
        log({ pages, stored }, `Segment import: ${stored} new event(s) from ${pages} page(s)`);
        return { kind: 'done', pages, stored };
      }
    }
  }

  /** One page, in one transaction that holds the import row: fetch, store, and record the progress or the failure. */
  private step(): Promise<Step> {
    const { workspaceId } = this.options;
    return this.db.transaction(async (tx): Promise<Step> => {
      const row = await lockSegmentImport(tx, workspaceId);
      if (!row) return { kind: 'busy' };
      if (row.nextPollAt && row.nextPollAt.getTime() > Date.now()) return { kind: 'not-due', at: row.nextPollAt };
      try {
        return await this.readPage(tx, row);
      } catch (error) {
        // Stopping: roll back, so the next start reads this page again.
        if (this.stopping) throw error;
        const failure = this.describe(error, row);
        this.logger.warn(
          { kind: failure.kind, nextPollAt: failure.nextPollAt, reason: failure.reason },
          'Segment import poll failed',
        );
        await recordImportFailure(tx, workspaceId, failure);
        return { kind: 'failed', error: failure.kind as ImportErrorKind, nextPollAt: failure.nextPollAt };
      }
    });
  }

  private async readPage(tx: DbOrTx, loaded: SegmentImportRow): Promise<Step> {
    const { workspaceId, overlapMs, sinceMs, pageSize, intervalMs } = this.options;
    const row = await this.withSegmentWorkspace(tx, loaded);
    const segmentWorkspaceId = row.segmentWorkspaceId ?? '';
    const windowStart =
      row.windowStart ?? new Date(row.watermark ? row.watermark.getTime() - overlapMs : Date.now() - sinceMs);
    const query = new URLSearchParams({ startTime: windowStart.toISOString(), 'pagination.count': String(pageSize) });
    if (row.windowCursor) query.set('pagination.cursor', row.windowCursor);
    const page = pageSchema.safeParse(await this.client.get(`/audit-events?${query}`));
    if (!page.success)
      throw new ImportError(
        'bad_response',
        `Segment's answer to GET /audit-events was not a page of events (${page.error.issues[0]?.message})`,
      );

    const events: IncomingEvent[] = [];
    let newest: Date | undefined;
    for (const item of page.data.events) {
      const read = toIncomingEvent(item, segmentWorkspaceId);
      if ('problem' in read) {
        this.logger.warn(
          { segmentEventId: read.segmentEventId, problem: read.problem },
          'Segment audit event skipped: it cannot be stored',
        );
        this.options.onError?.('invalid_event');
        continue;
      }
      events.push(read.event);
      const at = new Date(read.event.timestamp!);
      if (!newest || at > newest) newest = at;
    }
    const next = page.data.pagination?.next ?? undefined;
    // The page's events and the progress past them commit together. In a savepoint, so that a failure to store can
    // still be recorded on the row in this transaction.
    const stored = await tx.transaction(async (savepoint) => {
      // Every poll re-reads the overlap: events already stored are left out before the chain head is locked, so a
      // poll with nothing new never waits on (or holds up) the workspace's other writers.
      const known = await storedEventIds(
        savepoint,
        workspaceId,
        events.map((event) => event.id!),
      );
      const fresh = events.filter((event) => !known.has(event.id!));
      const appended = fresh.length ? await appendEvents(savepoint, workspaceId, fresh) : undefined;
      const times = (appended?.stored ?? []).map((event) => Date.parse(event.timestamp));
      await recordImportedPage(savepoint, workspaceId, {
        windowStart,
        next,
        newest,
        stored: times.length,
        oldestStored: times.length ? new Date(Math.min(...times)) : undefined,
        newestStored: times.length ? new Date(Math.max(...times)) : undefined,
        nextPollAt: new Date(Date.now() + intervalMs),
      });
      return times.length;
    });
    return { kind: 'page', more: next !== undefined, stored, ...(newest && { newest }) };
  }

  /** The row with the token's Segment workspace recorded on it, asking `GET /` once per process. */
  private async withSegmentWorkspace(tx: DbOrTx, row: SegmentImportRow): Promise<SegmentImportRow> {
    if (this.segmentWorkspaceId === undefined) {
      const answer = workspaceSchema.safeParse(await this.client.get('/'));
      if (!answer.success)
        throw new ImportError('bad_response', "Segment's answer to GET / did not name the token's workspace");
      this.segmentWorkspaceId = answer.data.workspace.id;
    }
    const segmentWorkspaceId = this.segmentWorkspaceId;
    if (row.segmentWorkspaceId === segmentWorkspaceId) return row;
    const restart = row.segmentWorkspaceId !== null;
    if (restart) {
      this.logger.warn(
        { was: row.segmentWorkspaceId, now: segmentWorkspaceId },
        'SEGMENT_API_TOKEN belongs to another Segment workspace than before: ' +
          'the import starts again from SEGMENT_PULL_SINCE',
      );
    }
    await recordSegmentWorkspace(tx, this.options.workspaceId, segmentWorkspaceId, { restart });
    return restart
      ? { ...row, segmentWorkspaceId, watermark: null, windowStart: null, windowCursor: null, windowNewest: null }
      : { ...row, segmentWorkspaceId };
  }

  private describe(error: unknown, row: SegmentImportRow): ImportFailure {
    const now = Date.now();
    const backoff = new Date(
      now + withJitter(exponentialDelay(row.failures + 1, this.options.backoffBaseMs, this.options.maxBackoffMs)),
    );
    if (error instanceof ImportError)
      return { kind: error.kind, reason: error.message, result: 'error', nextPollAt: backoff };
    if (!(error instanceof SegmentApiError)) {
      // Postgres' message can hold the whole statement: the log has it, status says where to look.
      this.logger.error({ err: error }, 'Segment import could not store a page of events');
      return {
        kind: 'store',
        reason: 'could not store the imported events; see the service log',
        result: 'error',
        nextPollAt: backoff,
      };
    }
    const what = `${error.method} ${error.path.split('?')[0]}`;
    const said = error.messages.length ? `: ${error.messages.join('; ')}` : '';
    switch (error.kind) {
      case 'rate-limited': {
        const waitMs = Math.min(
          error.retryAfterMs ?? exponentialDelay(row.failures + 1, 1000, 60_000),
          MAX_RATE_LIMIT_WAIT_MS,
        );
        const reason = `Segment is rate-limiting ${what} (429); waiting ${Math.ceil(waitMs / 1000)} s as it asked`;
        return { kind: 'rate_limited', reason, result: 'rate_limited', nextPollAt: new Date(now + waitMs) };
      }
      case 'unauthorized': {
        const forbidden = error.status === 403;
        const reason = forbidden
          ? `Segment refused ${what} (403): the token may not read this workspace's Audit Trail${said}`
          : `Segment refused the Public API token (401)${said}: check SEGMENT_API_TOKEN`;
        return { kind: forbidden ? 'forbidden' : 'unauthorized', reason, result: 'error', nextPollAt: backoff };
      }
      case 'server-error':
      case 'timeout':
      case 'network':
        return {
          kind: error.kind === 'server-error' ? 'server_error' : error.kind,
          reason: error.reason,
          result: 'error',
          nextPollAt: backoff,
        };
      case 'not-found':
        return {
          kind: 'not_found',
          reason: `Segment answered 404 to ${what}: check SEGMENT_API_URL${said}`,
          result: 'error',
          nextPollAt: backoff,
        };
      case 'bad-response':
        return { kind: 'bad_response', reason: error.reason, result: 'error', nextPollAt: backoff };
      default: {
        // A refused cursor (expired, or from another window) cannot be fixed by asking again: read the window afresh.
        const reason = `Segment refused ${what} (${error.status})${said}`;
        return {
          kind: 'rejected',
          reason,
          result: 'error',
          nextPollAt: backoff,
          dropCursor: row.windowCursor !== null,
        };
      }
    }
  }
}

/**
 * One Public API audit event as this service stores it: the id shared with the push path, the catalog type, actor
 * `system` for `__system__`, `user` (with email) when Segment names an email, otherwise `token`.
 */
export function toIncomingEvent(
  item: unknown,
  segmentWorkspaceId: string,
): { event: IncomingEvent } | { problem: string; segmentEventId?: string } {
  const parsed = publicAuditEventSchema.safeParse(item);
  const segmentEventId =
    typeof (item as { id?: unknown } | null)?.id === 'string' ? (item as { id: string }).id : undefined;
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return {
      problem: `${issue.path.join('.') || '(event)'}: ${issue.message}`,
      ...(segmentEventId && { segmentEventId }),
    };
  }
  const source = parsed.data;
  const id = segmentAuditEventId({
    segmentWorkspaceId,
    type: source.type,
    resourceId: source.resourceId,
    timestamp: source.timestamp,
  });
  if (!id)
    return { problem: `timestamp: ${JSON.stringify(source.timestamp)} is not a time`, segmentEventId: source.id };
  const actor =
    source.actor === SEGMENT_SYSTEM_ACTOR
      ? { type: 'system' as const, id: source.actor }
      : source.actorEmail
        ? { type: 'user' as const, id: source.actor, email: source.actorEmail }
        : { type: 'token' as const, id: source.actor };
  const checked = incomingEventSchema.safeParse({
    id,
    type: source.type,
    timestamp: source.timestamp,
    actor,
    resource: {
      type: source.resourceType,
      id: source.resourceId,
      ...(source.resourceName && { name: source.resourceName }),
    },
    metadata: { segmentType: source.type, segmentWorkspaceId, segmentEventId: source.id },
  });
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    return { problem: `${issue.path.join('.') || '(event)'}: ${issue.message}`, segmentEventId: source.id };
  }
  return { event: withCatalogType(checked.data) };
}
