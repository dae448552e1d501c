/**
 * POST /slack/events: screened first (signature, timestamp window, payload shape; slack/envelope.ts), then handed to
 * Bolt's receiver with the exact bytes Slack signed. A refused request is answered here with a 4xx naming why.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { errorCodes, type FastifyInstance } from 'fastify';
import { MAX_REQUEST_BYTES } from '../../events.ts';
import { SLACK_EVENTS_PATH } from '../../slack/app.ts';
import type { Screening } from '../../slack/envelope.ts';

/**
 * A body over MAX_REQUEST_BYTES is read to its end (and dropped) before the 413, because a client still sending when
 * the connection closes sees a reset, not the answer; one declaring or sending more than this is cut off at once.
 */
const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;

export interface SlackRouteOptions {
  screen: (headers: IncomingHttpHeaders, body: Buffer) => Screening;
  handle: (request: IncomingMessage & { rawBody?: Buffer }, response: ServerResponse) => void;
}

export async function slackRoutes(app: FastifyInstance, options: SlackRouteOptions): Promise<void> {
  // The signature covers the raw body, so this scope parses nothing: it only collects the bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    const tooLarge = () => new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
    let settled = false;
    const finish = (error: Error | null, body?: Buffer) => {
      if (settled) return;
      settled = true;
      done(error, body);
    };
    if (Number(request.headers['content-length']) > DRAIN_LIMIT_BYTES) return finish(tooLarge());
    const chunks: Buffer[] = [];
    let received = 0;
    payload.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= MAX_REQUEST_BYTES) chunks.push(chunk);
      else if (received > DRAIN_LIMIT_BYTES) finish(tooLarge());
    });
    payload.on('end', () => finish(received > MAX_REQUEST_BYTES ? tooLarge() : null, Buffer.concat(chunks)));
    payload.on('error', (error) => finish(error));
  });
  app.post(SLACK_EVENTS_PATH, (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const screening = options.screen(request.headers, body);
    if (screening.verdict === 'refuse') {
      const { status, error, details } = screening;
      request.log.warn({ status, reason: error }, 'refused a request to /slack/events');
      void reply.code(status).send({ error, ...(details && { details }) });
      return;
    }
    if (screening.verdict === 'ack') {
      request.log.info({ kind: screening.kind }, 'acknowledged a Slack request no listener handles');
      void reply.code(200).send();
      return;
    }
    const raw = request.raw as IncomingMessage & { rawBody?: Buffer };
    raw.rawBody = body;
    void reply.hijack();
    options.handle(raw, reply.raw);
  });
}
