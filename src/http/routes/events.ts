/** The producer and owner API: POST /v1/events, GET /v1/events and GET /v1/events.csv. */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { eventsCsv } from '../../export/csv.ts';
import { checkRange, filterFieldsSchema } from '../../filters.ts';
import { withCatalogType } from '../../ingest/catalog-type.ts';
import type { Metrics } from '../../metrics.ts';
import { AppendersBusy, type EventAppender } from '../../store/append.ts';
import { type Database, STATEMENT_TIMEOUT_MS, withDeadline } from '../../store/db.ts';
import { type Cursor, decodeCursor, listEvents, MAX_PAGE_SIZE } from '../../store/queries.ts';
import { type AppError, appendersBusy, badRequest, issuePath, unauthorized } from '../errors.ts';
import { type IngestBody, parseIngestBody } from '../event-body.ts';
import { plainJsonBody } from '../json-body.ts';
import { workspaceForTokenInTime } from '../token-lookup.ts';

declare module 'fastify' {
  interface FastifyRequest {
    workspaceId: string;
  }
}

export interface EventRoutesOptions {
  database: Database;
  metrics: Metrics;
  /** The api role's one appender: both ingest routes share its group commit and its per-workspace limit. */
  appender: EventAppender;
}

const repeatable = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

const listQuerySchema = z.strictObject({
  type: repeatable.optional(),
  category: z.string().optional(),
  actor: z.string().optional(),
  actorType: z.string().optional(),
  resourceType: z.string().optional(),
  resourceId: z.string().optional(),
  since: z.string().optional(),
  until: z.string().optional(),
  limit: z
    .string()
    .regex(/^\d+$/, `must be a whole number from 1 to ${MAX_PAGE_SIZE}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_PAGE_SIZE, `must be a whole number from 1 to ${MAX_PAGE_SIZE}`)
    .optional(),
  cursor: z.string().optional(),
});

function parseListQuery(request: FastifyRequest, allowPaging: boolean) {
  const undecodable = undecodableParameter(request.url);
  if (undecodable !== undefined) {
    const message = 'is not valid percent-encoded UTF-8';
    throw badRequest(`invalid query: ${undecodable}: ${message}`, [{ path: undecodable, message }]);
  }
  const raw = listQuerySchema.safeParse(request.query ?? {});
  if (!raw.success) throw queryError(raw.error.issues);
  const { type, limit, cursor, ...rest } = raw.data;
  if (!allowPaging && (limit !== undefined || cursor !== undefined)) {
    throw badRequest('the CSV export has no pages: remove limit and cursor', [
      { path: limit !== undefined ? 'limit' : 'cursor', message: 'not accepted by /v1/events.csv' },
    ]);
  }
  const filters = filterFieldsSchema.safeParse({ ...rest, types: type });
  if (!filters.success) throw queryError(filters.error.issues);
  const rangeProblem = checkRange(filters.data);
  if (rangeProblem) throw badRequest(rangeProblem, [{ path: 'since', message: rangeProblem }]);
  let decoded: Cursor | undefined;
  if (cursor !== undefined) {
    decoded = decodeCursor(cursor);
    if (!decoded)
      throw badRequest('invalid cursor', [
        { path: 'cursor', message: 'use the nextCursor of a previous page as it was given' },
      ]);
  }
  return { filters: filters.data, limit, cursor: decoded };
}

/**
 * The query parser keeps a value it cannot percent-decode as it was ("%FF" stays "%FF"), which would
 * then be searched for as text; such a parameter is refused instead, named as far as it decodes.
 */
function undecodableParameter(url: string): string | undefined {
  const at = url.indexOf('?');
  if (at < 0) return undefined;
  for (const pair of url.slice(at + 1).split('&')) {
    const split = pair.indexOf('=');
    const [key, value] = split < 0 ? [pair, ''] : [pair.slice(0, split), pair.slice(split + 1)];
    const decoded = tryDecode(key);
    if (decoded === undefined) return key;
    if (tryDecode(value) === undefined) return decoded;
  }
  return undefined;
}

function tryDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

function queryError(issues: z.core.$ZodIssue[]): AppError {
  const details = issues.map((issue) => ({
    path: issue.path.length ? issuePath(issue.path).replace(/^types/, 'type') : issueKeys(issue),
    message: issue.message,
  }));
  return badRequest(`invalid query: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details);
}

function issueKeys(issue: z.core.$ZodIssue): string {
  return issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(query)';
}

export async function eventRoutes(app: FastifyInstance, options: EventRoutesOptions): Promise<void> {
  const { database, metrics } = options;
  const { appender } = options;

  app.decorateRequest('workspaceId', '');
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw unauthorized(header ? 'Authorization must be "Bearer <token>"' : 'missing bearer token');
    const workspaceId = await workspaceForTokenInTime(database.db, match[1]!);
    if (!workspaceId) throw unauthorized('invalid or revoked token');
    request.workspaceId = workspaceId;
  });

  app.post('/v1/events', { preParsing: plainJsonBody }, async (request, reply) => {
    let body: IngestBody;
    try {
      body = parseIngestBody(request.body);
    } catch (error) {
      metrics.ingestedEvents.inc({ outcome: 'rejected' }, countOf(request.body));
      throw error;
    }
    const { events, known } = body;
    const result = await appender
      .append(request.workspaceId, events.map(withCatalogType), known)
      .catch((error: unknown) => {
        if (!(error instanceof AppendersBusy)) throw error;
        metrics.ingestedEvents.inc({ outcome: 'rejected' }, events.length);
        throw appendersBusy(error.waitingEvents);
      });
    metrics.ingestedEvents.inc({ outcome: 'accepted' }, result.stored.length);
    if (result.duplicates) metrics.ingestedEvents.inc({ outcome: 'duplicate' }, result.duplicates);
    request.log.debug({ accepted: result.stored.length, duplicates: result.duplicates }, 'events stored');
    return reply.code(201).send({ accepted: result.stored.length, duplicates: result.duplicates, ids: result.ids });
  });

  app.get('/v1/events', async (request) => {
    const { filters, limit, cursor } = parseListQuery(request, true);
    return listEvents(database.db, request.workspaceId, filters, { limit, cursor });
  });

  app.get('/v1/events.csv', async (request, reply) => {
    const { filters } = parseListQuery(request, false);
    let rows = 0;
    const csv = eventsCsv(database, request.workspaceId, filters, () => {
      rows += 1;
    });
    // The first chunk (the header, and rows once there are any) is read before answering: Postgres reports a query it
    // refuses or cannot run yet before COPY sends a byte, so that is still a JSON error (400, 503), not a 200 cut off.
    const chunks = csv[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    // A Postgres that hangs (connections open, nothing answering) is a 503 too, and the export is called off.
    const first = await withDeadline(chunks.next(), STATEMENT_TIMEOUT_MS + 500, 'CSV export').catch(
      (error: unknown) => {
        csv.destroy();
        throw error;
      },
    );
    async function* body(): AsyncGenerator<Buffer> {
      if (first.done) return;
      yield first.value;
      yield* { [Symbol.asyncIterator]: () => chunks };
      metrics.exportedRows.inc(rows);
    }
    const stream = Readable.from(body(), { objectMode: false });
    stream.on('error', (error) => request.log.error({ err: error, rows }, 'CSV export failed mid-stream'));
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header(
        'content-disposition',
        `attachment; filename="audit-events-${request.workspaceId.replace(/[^\w.-]/g, '_')}.csv"`,
      )
      .send(stream);
  });
}

function countOf(body: unknown): number {
  const events =
    body && typeof body === 'object' && 'events' in body ? (body as { events: unknown }).events : undefined;
  return Array.isArray(events) ? events.length : 1;
}
