/**
 * Prometheus metrics, one registry per service instance so tests can run several side by side. Every series
 * whose labels are known up front exists from the start at 0, so a rate or an alert on it never sees "no data".
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

/** What became of a rule's match, and what people did with its alert; `audit_alerts_total{rule,outcome}`. */
export const ALERT_OUTCOMES = [
  'posted', // Slack accepted the message (or it was found already in the channel after a crash)
  'logged', // no SLACK_BOT_TOKEN: written to the log instead
  'below_threshold', // counted toward the rule's threshold, which it has not reached
  'throttled', // suppressed by the rule's throttle
  'silenced', // held back by an owner's silence of the rule for that resource
  'failed', // Slack refused it for good (channel_not_found, not_in_channel, invalid_auth, …)
  'retried', // a passing failure; the post is tried again
  'acknowledged', // an owner clicked Acknowledge
  'reverted', // an owner reverted the alerted change
  'grouped', // joined a grouped message (the rule's `group`, or storm protection) instead of posting alone
] as const;
export type AlertOutcome = (typeof ALERT_OUTCOMES)[number];

const SEVERITIES = ['critical', 'warning', 'info'] as const;

/** Why alerts were grouped: the rule's `group`, or storm protection. */
export const GROUP_KINDS = ['rule', 'storm'] as const;

/** How a Revert all run ended: everything reverted or skipped, some events failed, or none could be reverted. */
export const REVERT_ALL_RUN_OUTCOMES = ['succeeded', 'partly_failed', 'failed'] as const;

/** What a Revert all run did with each event of its group. */
export const REVERT_ALL_EVENT_OUTCOMES = ['reverted', 'already_reverted', 'not_revertible', 'failed'] as const;

export function createMetrics() {
  const registry = new Registry();
  // No prefix: Node's process_* and nodejs_* names are what stock Node.js dashboards and alerts query.
  collectDefaultMetrics({ register: registry });
  let ruleIds: () => readonly string[] = () => [];
  const alerts = new Counter({
    name: 'audit_alerts_total',
    help: `Rule matches by rule and outcome (${ALERT_OUTCOMES.join(', ')})`,
    labelNames: ['rule', 'outcome'] as const,
    registers: [registry],
    collect() {
      // Rules loaded or reloaded since the last scrape start at 0 too.
      for (const rule of ruleIds()) for (const outcome of ALERT_OUTCOMES) this.inc({ rule, outcome }, 0);
    },
  });
  const metrics = {
    registry,
    alerts,
    /** The rule ids to report `audit_alerts_total` for, read at each scrape (the worker's live rule set). */
    trackRules(current: () => readonly string[]) {
      ruleIds = current;
    },
    ingestedEvents: new Counter({
      name: 'audit_ingest_events_total',
      help: 'Events received through POST /v1/events, by outcome (accepted, duplicate, rejected)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    segmentPushEvents: new Counter({
      name: 'audit_segment_push_events_total',
      help:
        'Calls received through POST /v1/segment (Segment Audit Forwarding), by outcome ' +
        '(accepted, duplicate, ignored: not an audit call, rejected)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'audit_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    relayedEvents: new Counter({
      name: 'audit_outbox_relayed_total',
      help: 'Events moved from the Postgres outbox onto the audit-events queue',
      registers: [registry],
    }),
    redisWipes: new Counter({
      name: 'audit_redis_wipes_total',
      help:
        'Times Redis was found without the queue it held (restarted empty, flushed, failed over to an empty ' +
        'replica); each time, events not yet alerted and unfinished Revert all runs were queued again from Postgres',
      registers: [registry],
    }),
    requeuedEvents: new Counter({
      name: 'audit_redis_requeued_events_total',
      help: 'Events queued again from Postgres after Redis lost the alert queue',
      registers: [registry],
    }),
    schedulesRestored: new Counter({
      name: 'audit_schedules_restored_total',
      help: 'Daily job schedules found missing from Redis (wiped) and registered again, by schedule',
      labelNames: ['schedule'] as const,
      registers: [registry],
    }),
    exportedRows: new Counter({
      name: 'audit_export_rows_total',
      help: 'Rows written to CSV exports',
      registers: [registry],
    }),
    alertLatency: new Histogram({
      name: 'audit_alert_latency_seconds',
      help: 'Time from an event being stored to its Slack alert being accepted by Slack',
      labelNames: ['severity'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    alertsSkipped: new Counter({
      name: 'audit_alerts_skipped_total',
      help:
        'Stored events the alert worker did not alert on, by reason ' +
        '(too_old: older than ALERT_MAX_AGE when received)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    groupedMessages: new Counter({
      name: 'audit_alert_grouped_messages_total',
      help:
        'Alert messages that became grouped messages (a second match joined), by kind ' +
        "(rule: the rule's group; storm: storm protection)",
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    groupEvents: new Histogram({
      name: 'audit_alert_group_events',
      help: 'Events per alert group, observed when the group closes, by kind (rule, storm)',
      labelNames: ['kind'] as const,
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: [registry],
    }),
    revertAllRuns: new Counter({
      name: 'audit_revert_all_runs_total',
      help: `Revert all runs by outcome (${REVERT_ALL_RUN_OUTCOMES.join(', ')})`,
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    revertAllEvents: new Counter({
      name: 'audit_revert_all_events_total',
      help: `Events handled by Revert all runs, by outcome (${REVERT_ALL_EVENT_OUTCOMES.join(', ')})`,
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    slackErrors: new Counter({
      name: 'audit_slack_errors_total',
      help: 'Slack Web API calls that failed, by method and error code',
      labelNames: ['method', 'error'] as const,
      registers: [registry],
    }),
    forwardedEvents: new Counter({
      name: 'audit_forwarding_events_total',
      help:
        'Audit events forwarded to Segment sources, by outcome ' +
        '(delivered, or failed: refused by Segment and not sent)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    forwardingBatches: new Counter({
      name: 'audit_forwarding_batches_total',
      help: 'Batches posted to the Segment Tracking API, by outcome (delivered, failed, retried)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    importedEvents: new Counter({
      name: 'audit_import_events_total',
      help: "Events imported from Segment's Public API audit trail and stored (duplicates not counted)",
      registers: [registry],
    }),
    importErrors: new Counter({
      name: 'audit_import_errors_total',
      help:
        "Failed polls of Segment's Public API audit trail, and events in its answers that could not be stored, " +
        'by kind (unauthorized, forbidden, rate_limited, server_error, timeout, network, not_found, rejected, ' +
        'bad_response, invalid_event, store)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    importLastSuccess: new Gauge({
      name: 'audit_import_last_success_timestamp_seconds',
      help:
        'When Segment last answered the audit trail import (Unix seconds; 0 before the first answer); ' +
        'alert when old',
      registers: [registry],
    }),
    digestPosts: new Counter({
      name: 'audit_digest_posts_total',
      help:
        'Signed chain digests posted to DIGEST_CHANNEL, by outcome ' +
        '(posted; retried: Slack unreachable, the job tries again; failed: refused by Slack)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    digestRateLimited: new Counter({
      name: 'audit_digest_rate_limited_total',
      help: 'Digest posts Slack answered 429 to, each waited out (Retry-After) and sent again',
      registers: [registry],
    }),
    digestForwards: new Counter({
      name: 'audit_digest_forwards_total',
      help: 'Digests sent to Segment for workspaces with forwarding on, by outcome (delivered, retried, failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    digestLastPosted: new Gauge({
      name: 'audit_digest_last_posted_timestamp_seconds',
      help: 'When this process last posted a chain digest (Unix seconds); alert when it is over a day old',
      registers: [registry],
    }),
    /** Gauges read on scrape; each collector returns undefined when its dependency is away. */
    addGauge(
      name: string,
      help: string,
      labelNames: string[],
      read: () => Promise<[Record<string, string>, number][] | undefined>,
    ) {
      return new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        async collect() {
          const values = await read().catch(() => undefined);
          this.reset();
          for (const [labels, value] of values ?? []) this.set(labels, value);
        },
      });
    },
  };
  for (const outcome of ['accepted', 'duplicate', 'rejected']) metrics.ingestedEvents.inc({ outcome }, 0);
  for (const severity of SEVERITIES) metrics.alertLatency.zero({ severity });
  for (const kind of GROUP_KINDS) {
    metrics.groupedMessages.inc({ kind }, 0);
    metrics.groupEvents.zero({ kind });
  }
  for (const outcome of REVERT_ALL_RUN_OUTCOMES) metrics.revertAllRuns.inc({ outcome }, 0);
  for (const outcome of REVERT_ALL_EVENT_OUTCOMES) metrics.revertAllEvents.inc({ outcome }, 0);
  for (const outcome of ['delivered', 'failed']) metrics.forwardedEvents.inc({ outcome }, 0);
  for (const outcome of ['delivered', 'failed', 'retried']) metrics.forwardingBatches.inc({ outcome }, 0);
  return metrics;
}
