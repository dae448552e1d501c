/** The Block Kit pieces every message, view and Home tab here is built from, with producer text made inert. */
import type { types } from '@slack/bolt';
import { escapeMrkdwn, truncate } from '../mrkdwn.ts';

/** Block Kit's limit on a section's text is 3,000 characters; this leaves room for what a caller appends. */
const SECTION_TEXT_MAX = 2900;

/**
 * A mrkdwn text object cut to `max`. `verbatim` stops Slack from turning bare names and URLs into links, so escaped
 * producer text stays plain; the markup left is ours (bold, dates, mentions of IDs that came from Slack).
 */
export function mrkdwn(text: string, max: number = SECTION_TEXT_MAX): types.MrkdwnElement {
  return { type: 'mrkdwn', text: truncate(text, max), verbatim: true };
}

export function section(text: string): types.SectionBlock {
  return { type: 'section', text: mrkdwn(text) };
}

export function context(text: string): types.ContextBlock {
  return { type: 'context', elements: [mrkdwn(text)] };
}

/**
 * Producer (or user) text made inert and one line long, cut to `max`: a newline in a name must not start a line of
 * its own that reads like ours ("Reverted by …"), and `&`, `<`, `>` cannot form a mention, link or date.
 */
export function inline(text: string, max: number): string {
  return truncate(escapeMrkdwn(text.replace(/\s+/g, ' ')), max);
}

/** `inline` as inline code, unless the text holds a backtick that would end the span early and garble the rest. */
export function inlineCode(text: string, max: number): string {
  const inner = inline(text, max - 2);
  return inner.includes('`') ? inner : `\`${inner}\``;
}

/**
 * Our own tokens (mentions, user-group and channel links) joined with spaces up to `max`, each whole or not at all:
 * half of `<!subteam^S0123>` would post broken markup instead of a mention.
 */
export function joinWhole(tokens: readonly string[], max: number): string {
  let joined = '';
  for (const token of tokens) {
    const next = joined ? `${joined} ${token}` : token;
    if (next.length > max) break;
    joined = next;
  }
  return joined;
}
