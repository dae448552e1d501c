/**
 * The alert worker's silence step: an alert whose rule is silenced for its resource is recorded as held back (and
 * counted) instead of posted. It runs after threshold and throttle, whose state has advanced by then, and before the
 * post; the event itself was stored long before, as every event is.
 */
import type { StoredEvent } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { DbOrTx } from '../store/db.ts';
import { recordSilencedAlert } from '../store/silences.ts';
import type { Rule } from './rules/types.ts';

/**
 * True when a silence took the alert (recorded as `silenced`, not to be posted). False when none covers it, and also
 * when the alert is already recorded: then that record decides, as for any retried alert.
 */
export async function holdBackIfSilenced(
  deps: { db: DbOrTx; metrics: Metrics },
  rule: Rule,
  event: StoredEvent,
  log: Logger,
): Promise<boolean> {
  const silenceId = await recordSilencedAlert(deps.db, {
    workspaceId: event.workspaceId,
    eventId: event.id,
    ruleId: rule.id,
    channel: rule.channel,
    resourceId: event.resource.id,
  });
  if (silenceId === undefined) return false;
  deps.metrics.alerts.inc({ rule: rule.id, outcome: 'silenced' });
  log.info({ silenceId }, 'alert held back by a silence');
  return true;
}
