/**
 * ALERT_MAX_AGE: an event that was already old when it arrived (a 90-day import, a producer's backfill, a replayed
 * batch) is stored and queryable like any other but never alerted, so catching up does not flood Slack with news
 * that is hours or months stale. It is the first step of the alert worker's per-event processing.
 */
import type { StoredEvent } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

export interface MaxAgeCheck {
  /** ALERT_MAX_AGE in milliseconds. */
  alertMaxAgeMs: number;
  metrics: Metrics;
}

/**
 * True (counted and logged) when the event was older than ALERT_MAX_AGE on arrival: receivedAt − timestamp > max age.
 */
export function skipTooOldToAlert(event: StoredEvent, check: MaxAgeCheck, log: Logger): boolean {
  const ageOnArrivalMs = Date.parse(event.receivedAt) - Date.parse(event.timestamp);
  if (!(ageOnArrivalMs > check.alertMaxAgeMs)) return false;
  check.metrics.alertsSkipped.inc({ reason: 'too_old' });
  log.debug(
    { ageOnArrivalMs, alertMaxAgeMs: check.alertMaxAgeMs },
    'event was older than ALERT_MAX_AGE when received; not alerted',
  );
  return true;
}
