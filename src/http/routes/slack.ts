/** POST /slack/events, handed to Bolt's receiver with the exact bytes Slack signed. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { SLACK_EVENTS_PATH } from '../../slack/app.ts';

export async function slackRoutes(
  app: FastifyInstance,
  options: { handle: (request: IncomingMessage & { rawBody?: Buffer }, response: ServerResponse) => void },
): Promise<void> {
  // Bolt verifies the signature over the raw body, so this scope parses nothing.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post(SLACK_EVENTS_PATH, (request, reply) => {
    const raw = request.raw as IncomingMessage & { rawBody?: Buffer };
    raw.rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    void reply.hijack();
    options.handle(raw, reply.raw);
  });
}
