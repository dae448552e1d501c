/**
 * POST /v1/segment: Segment's own audit events as its Webhooks destination posts them (SPEC sections 4 and 11),
 * authenticated with an ingest token as a Bearer token or as the basic-auth user, since that is what a Webhooks
 * destination can be told to send.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MAX_EVENTS_PER_REQUEST } from '../../events.ts';
import { withCatalogType } from '../../ingest/catalog-type.ts';
import { parseSegmentPush } from '../../ingest/segment-push.ts';
import type { Metrics } from '../../metrics.ts';
import { AppendersBusy, type EventAppender } from '../../store/append.ts';
import type { Database } from '../../store/db.ts';
import { AppError, appendersBusy, unauthorized } from '../errors.ts';
import { plainJsonBody } from '../json-body.ts';
import { workspaceForTokenInTime } from '../token-lookup.ts';

export interface SegmentRoutesOptions {
  database: Database;
  metrics: Metrics;
  /** The api role's one appender: both ingest routes share its group commit and its per-workspace limit. */
  appender: EventAppender;
}

const CREDENTIALS_HINT = 'send the ingest token as "Authorization: Bearer <token>" or as the basic-auth user';

export async function segmentRoutes(app: FastifyInstance, options: SegmentRoutesOptions): Promise<void> {
  const { database, metrics } = options;
  const { appender } = options;

  app.decorateRequest('workspaceId', '');
  // Authentication comes first, and the body is checked before it is read, as on POST /v1/events.
  const authenticate = async (request: FastifyRequest) => {
    const token = tokenOf(request);
    const workspaceId = token === undefined ? undefined : await workspaceForTokenInTime(database.db, token);
    if (!workspaceId)
      throw unauthorized(token === undefined ? `missing credentials: ${CREDENTIALS_HINT}` : 'invalid or revoked token');
    request.workspaceId = workspaceId;
  };

  app.post('/v1/segment', { onRequest: authenticate, preParsing: plainJsonBody }, async (request, reply) => {
    const { workspaceId } = request;
    const push = parseSegmentPush(request.body);
    if (!push.ok) {
      metrics.segmentPushEvents.inc({ outcome: 'rejected' }, callCount(request.body));
      throw new AppError(push.status, push.message, push.problems.length ? push.problems : undefined);
    }
    if (push.ignored) metrics.segmentPushEvents.inc({ outcome: 'ignored' }, push.ignored);
    if (push.events.length === 0) return reply.code(200).send({ accepted: 0, duplicates: 0, ignored: push.ignored });

    const result = await appender
      .append(workspaceId, push.events.map(withCatalogType), push.known)
      .catch((error: unknown) => {
        if (!(error instanceof AppendersBusy)) throw error;
        metrics.segmentPushEvents.inc({ outcome: 'rejected' }, push.events.length);
        // Segment retries a webhook that answers 429, so nothing is lost.
        throw appendersBusy(error.waitingEvents);
      });
    metrics.segmentPushEvents.inc({ outcome: 'accepted' }, result.stored.length);
    if (result.duplicates) metrics.segmentPushEvents.inc({ outcome: 'duplicate' }, result.duplicates);
    request.log.debug(
      { workspaceId, accepted: result.stored.length, duplicates: result.duplicates, ignored: push.ignored },
      'Segment audit events stored',
    );
    return reply
      .code(200)
      .send({ accepted: result.stored.length, duplicates: result.duplicates, ignored: push.ignored });
  });
}

/** The token from `Bearer <token>`, or from Basic auth: the user (the password left empty), else the password. */
function tokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization?.trim() ?? '';
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=_-]+)$/i.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  return user || password || undefined;
}

function callCount(body: unknown): number {
  if (Array.isArray(body)) return Math.min(body.length, MAX_EVENTS_PER_REQUEST);
  const batch = body && typeof body === 'object' && 'batch' in body ? (body as { batch: unknown }).batch : undefined;
  return Array.isArray(batch) ? Math.min(batch.length, MAX_EVENTS_PER_REQUEST) : 1;
}
