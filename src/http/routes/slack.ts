/**
 * POST /slack/events: screened first (signature, timestamp window, payload shape; slack/envelope.ts), then handed to
 * Bolt's receiver with the exact bytes Slack signed. A refused request is answered here with a 4xx naming why.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { SLACK_EVENTS_PATH } from '../../slack/app.ts';
import type { Screening } from '../../slack/envelope.ts';

export interface SlackRouteOptions {
  screen: (headers: IncomingHttpHeaders, body: Buffer) => Screening;
  handle: (request: IncomingMessage & { rawBody?: Buffer }, response: ServerResponse) => void;
}

export async function slackRoutes(app: FastifyInstance, options: SlackRouteOptions): Promise<void> {
  // The signature covers the raw body, so this scope parses nothing.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
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
