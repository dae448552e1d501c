/** The check both ingest routes make before a body is read: JSON in UTF-8, sent uncompressed (SPEC section 3). */
import type { FastifyReply, FastifyRequest, RequestPayload } from 'fastify';
import { AppError } from './errors.ts';

/**
 * A preParsing hook, so it runs after authentication and before the body is read or parsed: Fastify also parses
 * text/plain, and it ignores Content-Encoding, so a gzipped body would be read as text (and a stray header ignored).
 */
export async function plainJsonBody(
  request: FastifyRequest,
  _reply: FastifyReply,
  payload: RequestPayload,
): Promise<RequestPayload> {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new AppError(415, 'Content-Type must be application/json');
  // JSON is UTF-8 (RFC 8259); a body declared as anything else would be read as what it is not.
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(type)?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new AppError(415, `Content-Type charset ${JSON.stringify(charset)} is not supported: send UTF-8`);
  }
  const encoding = request.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    const message = `Content-Encoding ${JSON.stringify(encoding)} is not supported: send the JSON uncompressed`;
    throw new AppError(415, message);
  }
  return payload;
}
