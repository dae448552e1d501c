/** The Redis epoch of a queue prefix (schema/redis-epochs.ts), read and changed under its row lock. */
import { eq } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { redisEpochs } from './schema/index.ts';

/**
 * The prefix's epoch, locked for the rest of the transaction so that replicas noticing a wiped Redis together recover
 * once: the later one finds the marker already written. Empty before the first start has written one.
 */
export async function lockRedisEpoch(tx: DbOrTx, queuePrefix: string): Promise<string> {
  await tx.insert(redisEpochs).values({ queuePrefix, epoch: '' }).onConflictDoNothing();
  const [row] = await tx
    .select({ epoch: redisEpochs.epoch })
    .from(redisEpochs)
    .where(eq(redisEpochs.queuePrefix, queuePrefix))
    .for('update');
  return row?.epoch ?? '';
}

export async function setRedisEpoch(tx: DbOrTx, queuePrefix: string, epoch: string): Promise<void> {
  await tx.update(redisEpochs).set({ epoch, changedAt: new Date() }).where(eq(redisEpochs.queuePrefix, queuePrefix));
}
