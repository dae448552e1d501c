/** Entry point: config → database → service (every role in ROLES) → signals. */
import { RuleProblemsError } from './alerting/rule-loader.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { createService } from './service.ts';
import { ensureDatabase, migrateDatabase, postgresConnectionProblem } from './store/db.ts';

const SHUTDOWN_TIMEOUT_MS = 15_000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // Last line of defence, not the fix: every request path answers its own failures (Slack requests are screened
  // before Bolt, listener errors go to app.error), so a rejection nobody handled is a bug. Node would exit on it and
  // take every role down with it; logging it keeps the others serving.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection (a bug: please report it); the service keeps running');
  });
  // A stop asked for while the migrations run (a replica waits on another's advisory lock, a deploy is rolled back)
  // lets them finish, in their transaction, and then exits 0 without starting anything.
  let stopBeforeStart: string | undefined;
  const stopEarly = (signal: string) => {
    stopBeforeStart ??= signal;
    logger.info({ signal }, 'shutting down once the migrations are applied');
  };
  const early = { SIGTERM: () => stopEarly('SIGTERM'), SIGINT: () => stopEarly('SIGINT') };
  process.on('SIGTERM', early.SIGTERM);
  process.on('SIGINT', early.SIGINT);
  try {
    await ensureDatabase(config.databaseUrl, logger);
    await migrateDatabase(config.databaseUrl, logger);
  } catch (error) {
    // An operator's mistake or an outage, not a bug: one line saying where, no stack trace.
    const problem = postgresConnectionProblem(error, config.databaseUrl);
    if (problem) {
      process.stderr.write(`audit-trail cannot start: ${problem}\n`);
      process.exit(1);
    }
    throw error;
  }
  process.off('SIGTERM', early.SIGTERM);
  process.off('SIGINT', early.SIGINT);
  if (stopBeforeStart) process.exit(0);

  const service = createService(config, logger);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    service
      .stop(SHUTDOWN_TIMEOUT_MS)
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    await service.start();
  } catch (error) {
    if (error instanceof RuleProblemsError) {
      process.stderr.write(`audit-trail refuses to start: ${error.message}\n`);
      await service.stop(1000).catch(() => {});
      process.exit(1);
    }
    throw error;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`audit-trail failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
