/**
 * Slack's libraries, loaded when a Slack feature is first built instead of when a module that mentions them is
 * imported. A process without SLACK_BOT_TOKEN (or without the slack and worker roles) then never loads Bolt, its
 * Express, undici and Socket Mode, nor the Web API client and axios: `npm run bench -- startup` shows the same
 * service some 15 MB larger with Slack on than off. Both packages are CommonJS, so require() is synchronous and
 * the factories that call these keep their signatures.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function loadBolt(): typeof import('@slack/bolt') {
  return require('@slack/bolt') as typeof import('@slack/bolt');
}

export function loadWebApi(): typeof import('@slack/web-api') {
  return require('@slack/web-api') as typeof import('@slack/web-api');
}
