/** One error family for everything a client can get wrong: an HTTP status and a message safe to show. */

export interface ErrorDetail {
  index?: number;
  path: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: ErrorDetail[],
    /** Seconds, sent as Retry-After (429 and 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const badRequest = (message: string, details?: ErrorDetail[]) => new AppError(400, message, details);
export const unauthorized = (message = 'missing or invalid bearer token') => new AppError(401, message);
export const payloadTooLarge = (message: string, details?: ErrorDetail[]) => new AppError(413, message, details);

/** Ingest's answer when the workspace already has too many events waiting for Postgres (producers retry a 429). */
export const appendersBusy = (waitingEvents: number) =>
  new AppError(
    429,
    `too many events are waiting to be stored for this workspace (${waitingEvents}); ` +
      'nothing was stored, retry after a second',
    undefined,
    1,
  );

/** Turns zod issue paths into the "actor.id" form the API documents. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.map((part) => String(part)).join('.') || '(root)';
}
