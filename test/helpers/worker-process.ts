/**
 * A service process for crash tests: the real createService with the env it is given, but with short
 * BullMQ lock and stall intervals so a SIGKILLed worker's job is picked up again within seconds.
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
  slackMinIntervalMs: 10,
  slackRetryConfig: retryPolicies.rapidRetryPolicy,
});
await service.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void service.stop(2000).then(() => process.exit(0));
});
