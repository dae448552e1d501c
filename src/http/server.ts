/** The one HTTP server: /v1/*, health and metrics (and /slack/events once the Slack app mounts there). */
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { MAX_REQUEST_BYTES } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { isDatabaseUnavailable } from '../store/db.ts';
import { AppError, badRequest } from './errors.ts';

/** Postgres restarts and failovers take seconds; a producer told to come back sooner would only add load. */
const DATABASE_RETRY_AFTER_SECONDS = 5;

/** Load balancers, orchestrators and Prometheus call these every few seconds; at info they would drown the log. */
const PROBE_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/** Fastify's request lines, at debug for probes and at info (as Fastify has them) for everything else. */
class QuietProbesLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    if (PROBE_ROUTES.has(request.routeOptions.url ?? '')) request.log.debug({ req: request }, 'incoming request');
    else super.incomingRequest(request, reply);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (!error && PROBE_ROUTES.has(request.routeOptions.url ?? '')) {
      reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
    } else {
      super.requestCompleted(error, request, reply);
    }
  }
}

export function createHttpServer(logger: Logger, metrics: Metrics): FastifyInstance {
  const app = Fastify({
    logController: new QuietProbesLogController(),
    // pino's Logger is a FastifyBaseLogger; the cast keeps FastifyInstance's default generics.
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: MAX_REQUEST_BYTES,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A path that does not percent-decode (`/v1/%E0`) is answered before routing, by default in Fastify's own shape
    // ({error, code, message, statusCode}); it gets the API's `{"error": "…"}` like every other client error.
    frameworkErrors: (error, request, reply) => {
      const status = error.statusCode ?? 400;
      const message =
        error.code === 'FST_ERR_BAD_URL'
          ? `the path of ${request.method} ${request.raw.url?.split('?')[0] ?? ''} is not valid percent-encoded UTF-8`
          : error.message;
      void (reply as FastifyReply).code(status).send({ error: message });
    },
  });

  // Fastify's own JSON parser decodes bytes that are not UTF-8 into replacement characters, which would be
  // stored as if the producer had sent them; such a body is refused instead (SPEC section 3).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) {
      done(badRequest('request body is not valid UTF-8'), undefined);
      return;
    }
    const text = bytes.toString('utf8');
    parseJson(request, text, (error, body) => {
      if ((error as FastifyError | null)?.code !== 'FST_ERR_CTP_INVALID_JSON_BODY') return done(error, body);
      done(invalidJson(text), undefined);
    });
  });

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}` });
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) {
      if (error.retryAfter !== undefined) void reply.header('retry-after', String(error.retryAfter));
      return reply.code(error.status).send({ error: error.message, ...(error.details && { details: error.details }) });
    }
    if (isDatabaseUnavailable(error)) {
      request.log.warn({ err: error }, 'Postgres unavailable');
      void reply.header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
      const message = `the database is unavailable; retry in ${DATABASE_RETRY_AFTER_SECONDS} seconds`;
      return reply.code(503).send({ error: message });
    }
    const status = error.statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send({ error: clientErrorMessage(error, status, request.url) });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'internal error; the request id is in the x-request-id header' });
  });

  return app;
}

/**
 * Why Fastify's parser refused a body, which it reports only as "not valid JSON": the syntax error where there is
 * one, else the keys it refuses in valid JSON (`__proto__`, `constructor.prototype`), which would alter objects in
 * JavaScript. Parsed again only on this error path.
 */
function invalidJson(text: string): AppError {
  try {
    JSON.parse(text);
  } catch (error) {
    return badRequest(`request body is not valid JSON: ${(error as Error).message}`);
  }
  return badRequest(
    'request body holds a "__proto__" key, or a "constructor" key holding "prototype", which are refused',
  );
}

/** Fastify's own errors, reworded for API clients. */
function clientErrorMessage(error: FastifyError, status: number, url: string): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body is larger than ${MAX_REQUEST_BYTES / 1024 / 1024} MB`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Content-Type must be application/json';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return url.startsWith('/v1/segment')
        ? 'request body is empty; send one track call, an array of them or {"batch": [...]}'
        : 'request body is empty; send one event object or {"events": [...]}';
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'Content-Length does not match the body';
    default:
      if (status === 400 && error instanceof SyntaxError) return `request body is not valid JSON: ${error.message}`;
      return error.message;
  }
}
