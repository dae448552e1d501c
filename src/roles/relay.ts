/**
 * The relay role: moves committed events from the Postgres outbox onto the alert queue, and puts them back (with the
 * unfinished Revert all runs) when Redis has lost the queue.
 */

import { type EpochWatchOptions, RedisEpochWatch } from '../outbox/redis-epoch.ts';
import { OutboxRelay } from '../outbox/relay.ts';
import { requeueRevertRuns } from '../revert/revert-all.ts';
import type { Rewound } from '../store/alert-progress.ts';
import type { Role, SharedInfrastructure } from './role.ts';

export interface RelayRoleOptions {
  /** How often the relay looks for its marker in Redis (default 5 s; tests use less). */
  redisEpochCheckMs?: EpochWatchOptions['checkIntervalMs'];
}

export function createRelayRole(shared: SharedInfrastructure, options: RelayRoleOptions = {}): Role {
  const { database, metrics, queues, config } = shared;
  const log = shared.logger.child({ role: 'relay' });
  const relay = new OutboxRelay(database.db, database.sql, queues.auditEvents, log, {
    onRelayed: (n) => metrics.relayedEvents.inc(n),
  });
  const requeued = (rewound: Rewound[]) => {
    metrics.requeuedEvents.inc(rewound.reduce((sum, r) => sum + r.toSeq - r.fromSeq + 1, 0));
    relay.wake();
  };
  const epochWatch = new RedisEpochWatch(database.db, shared.producerRedis, config.queuePrefix, log, {
    checkIntervalMs: options.redisEpochCheckMs,
    onWiped: (rewound) => {
      metrics.redisWipes.inc();
      requeued(rewound);
    },
    onRewound: requeued,
    requeue: (tx, epoch) => requeueRevertRuns(tx, queues.revertAll, epoch),
  });
  return {
    async start() {
      await epochWatch.start();
      await relay.start();
    },
    async stop() {
      await epochWatch.stop();
      await relay.stop();
    },
  };
}
