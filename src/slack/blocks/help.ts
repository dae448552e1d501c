/** The answer to `/audit` and `/audit help`: what the command does, with examples to copy. */
import type { types } from '@slack/bolt';
import { TIME_HINT } from '../../filters.ts';
import { FILTER_SYNTAX, SLACK_PAGE_DEFAULT } from '../command/filters.ts';
import { FORWARD_SYNTAX } from '../command/forward.ts';
import { IMPORT_USAGE } from '../command/import.ts';
import { SILENCE_SYNTAX } from '../command/silence.ts';
import { escapeMrkdwn } from '../mrkdwn.ts';

export interface HelpMessage {
  text: string;
  blocks: types.KnownBlock[];
}

export function buildHelpBlocks(): HelpMessage {
  const filters = FILTER_SYNTAX.map(({ example, meaning }) => `• \`${example}\` — ${meaning}`).join('\n');
  return {
    text: 'How to use /audit: search the audit trail, export it as CSV, forward it to Segment, or silence alerts.',
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: 'Audit trail: /audit', emoji: true } },
      section(
        `*Search the trail* — only you see the answer, ${SLACK_PAGE_DEFAULT} events a page, newest first, ` +
          'with a *Next* button:\n' +
          '`/audit type:"Warehouses Disabled" since:7d`\n' +
          '`/audit actor:jane@acme.com category:Source limit:50`\n' +
          '`/audit type:"Source Disabled" type:"Source Deleted" since:2026-11-01 until:2026-11-15`',
      ),
      section(
        '*Export as CSV* — every match (no page limit), uploaded to this channel when ready:\n' +
          '`/audit export category:Warehouses since:30d`\n' +
          '`/audit export` exports the whole trail.',
      ),
      section(
        '*Forward to Segment* — send every new audit event to a Segment source as a `track` call:\n' +
          `\`${FORWARD_SYNTAX.status}\` — is forwarding on, and where to\n` +
          `\`${FORWARD_SYNTAX.on}\` — turn it on, e.g. \`/audit forward on wk_3xAmpl3 Audit source\`\n` +
          `\`${FORWARD_SYNTAX.backfill}\` — also send the events stored in the last 7 days\n` +
          `\`${FORWARD_SYNTAX.off}\` — turn it off`,
      ),
      section(
        '*Silence a noisy alert* — its events are stored and counted but not posted; ' +
          'when it ends, a summary says how many it held back ' +
          "(an alert's *Silence…* menu does the same for its rule and resource):\n" +
          `\`${SILENCE_SYNTAX.list}\` — the running silences, each with an Unsilence button\n` +
          `\`${SILENCE_SYNTAX.silence}\` — e.g. \`/audit silence warehouse-disabled resource:wh_1 for:8h\`; ` +
          'without resource: every resource of the rule\n' +
          `\`${SILENCE_SYNTAX.unsilence}\` — end one early`,
      ),
      section(
        '*Segment’s own audit trail* — imported from Segment’s Public API when the service is set up to:\n' +
          `\`${IMPORT_USAGE}\` — on or off, the last poll and its result, what was imported, the last error`,
      ),
      { type: 'divider' },
      section(`*Filters* — combine any of them; a filter not given matches everything:\n${filters}`),
      {
        type: 'context',
        elements: [
          mrkdwn(
            'Put values with spaces in double quotes (`\\"` inside them for a quote). ' +
              `Times are ${TIME_HINT}; \`since\` includes its time, \`until\` stops just before it, both in UTC. ` +
              'Only workspace owners may use `/audit`.',
          ),
        ],
      },
    ],
  };
}

function section(text: string): types.SectionBlock {
  return { type: 'section', text: mrkdwn(text) };
}

/** All of this text is ours, but `<writeKey>` would still read as a link to Slack, so `<`, `>` and `&` are escaped. */
function mrkdwn(text: string): types.MrkdwnElement {
  return { type: 'mrkdwn', text: escapeMrkdwn(text), verbatim: true };
}
