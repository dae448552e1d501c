/** What a role is to the service ({ start, stop }), and the infrastructure the service builds once for all roles. */
import type { WebClient } from '@slack/web-api';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { RuleSet } from '../alerting/rule-loader.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Queues } from '../queue/connection.ts';
import type { Database } from '../store/db.ts';

export interface Role {
  start(): Promise<void>;
  /** Finishes in-flight work. Also called after a start() that failed part-way, so it stops only what started. */
  stop(): Promise<void>;
}

/** Owned by the service: roles use these and never close them. */
export interface SharedInfrastructure {
  config: Config;
  logger: Logger;
  database: Database;
  queues: Queues;
  /** The queues' connection: fails fast while Redis is away, for calls that must not pile up or block. */
  producerRedis: Redis;
  metrics: Metrics;
  /** The one HTTP server; a role registers its routes on it when it is built, before the server listens. */
  http: FastifyInstance;
  /**
   * A Redis connection for consumers (blocking commands, retries forever), one per `purpose`, made on first use:
   * `bullmq` is shared by every BullMQ worker in the process.
   */
  redis(purpose: 'bullmq' | 'rule-state'): Redis;
  /** The one Web API client for SLACK_BOT_TOKEN, made on first use; undefined without a token. */
  slackClient(): WebClient | undefined;
  /**
   * The rules in RULES_DIR, loaded on first use and watched from then on, shared by the roles of the process (the
   * worker alerts with them, the slack role checks rule ids and channels); rejects on invalid rules.
   */
  rules(): Promise<RuleSet>;
}
