/** Prometheus metrics, one registry per service instance so tests can run several side by side. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'audit_' });
  return {
    registry,
    ingestedEvents: new Counter({
      name: 'audit_ingest_events_total',
      help: 'Events received through POST /v1/events, by outcome (accepted, duplicate, rejected)',
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
        'replica); each time, events not yet alerted were queued again from Postgres',
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
    slackErrors: new Counter({
      name: 'audit_slack_errors_total',
      help: 'Slack Web API calls that failed, by method and error code',
      labelNames: ['method', 'error'] as const,
      registers: [registry],
    }),
    forwardedEvents: new Counter({
      name: 'audit_forwarding_events_total',
      help: 'Audit events forwarded to Segment sources, by outcome (delivered, or failed: refused by Segment and not sent)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    forwardingBatches: new Counter({
      name: 'audit_forwarding_batches_total',
      help: 'Batches posted to the Segment Tracking API, by outcome (delivered, failed, retried)',
      labelNames: ['outcome'] as const,
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
    addGauge(name: string, help: string, labelNames: string[], read: () => Promise<[Record<string, string>, number][] | undefined>) {
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
}
