/** Liveness, readiness (which dependency is failing) and Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Metrics } from '../../metrics.ts';
import type { Database } from '../../store/db.ts';

const CHECK_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`)),
        CHECK_TIMEOUT_MS,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function healthRoutes(
  app: FastifyInstance,
  options: { database: Database; redis: Redis; metrics: Metrics },
) {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    const checks = await Promise.allSettled([
      withTimeout(options.database.sql`select 1`, 'postgres'),
      withTimeout(options.redis.ping(), 'redis'),
    ]);
    const [postgres, redis] = checks.map((check) =>
      check.status === 'fulfilled' ? 'ok' : String(check.reason?.message ?? check.reason),
    );
    const failed = [postgres !== 'ok' && 'postgres', redis !== 'ok' && 'redis'].filter(Boolean);
    if (failed.length) {
      request.log.warn({ postgres, redis }, 'not ready');
      return reply.code(503).send({ error: `not ready: ${failed.join(' and ')} unavailable`, postgres, redis });
    }
    return { status: 'ready', postgres, redis };
  });

  app.get('/metrics', async (_request, reply) => {
    return reply
      .header('content-type', options.metrics.registry.contentType)
      .send(await options.metrics.registry.metrics());
  });
}
