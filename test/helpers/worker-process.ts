/**
 * A service process for crash tests: the real createService with the env it is given, but with short
 * BullMQ lock and stall intervals, and short dispatch leases and sweeps, so a SIGKILLed worker's job and
 * channel are picked up again within seconds.
 */
import webApi from '@slack/web-api';

// Not a name Node's ESM loader detects in this CommonJS package.
const { retryPolicies } = webApi;

import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { createService } from '../../src/service.ts';

const config = loadConfig(process.env);
const service = createService(config, createLogger(config.logLevel), {
  alertWorker: { lockDuration: 1500, stalledInterval: 500 },
  alertLeaseMs: 1500,
  revertAllWorker: { lockDuration: 1500, stalledInterval: 500 },
  revertAllLeaseMs: 1500,
  dispatch: { leaseMs: 1500, sweepIntervalMs: 300 },
  // A test of pacing itself may ask for a slower one.
  slackMinIntervalMs: Number(process.env.TEST_SLACK_MIN_INTERVAL_MS ?? 10),
  slackUpdateIntervalMs: 100,
  slackRetryConfig: retryPolicies.rapidRetryPolicy,
});
await service.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void service.stop(2000).then(() => process.exit(0));
});
