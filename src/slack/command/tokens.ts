/** The words of `/audit`: Slack's escapes undone, split on whitespace, values quoted as people and phones type them. */
import { truncate } from '../mrkdwn.ts';

/** How much of a token an error message quotes: enough to recognise it, not a wall of text. */
export const QUOTED_TOKEN = 100;

export interface Token {
  /** The token as it arrived, quotes and all. */
  raw: string;
  /** The text before the first `:`, as typed; undefined for a bare word. */
  key?: string;
  /** The value, unquoted and unescaped. */
  value: string;
  quoted: boolean;
}

const DOUBLE_QUOTES = '"“”„‟';
const SINGLE_QUOTES = "'‘’‚‛";
const SPACE = /\s/;

/**
 * Slack escapes `&`, `<` and `>` in command text, and may wrap an email or URL as `<mailto:a@b|a@b>`; undone here so
 * filters see what the user typed.
 */
export function normaliseSlackText(text: string): string {
  return text
    .replace(/<mailto:([^|>]+)(?:\|[^>]*)?>/g, '$1')
    .replace(/<((?:https?):[^|>]+)(?:\|[^>]*)?>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
}

function quoteFamily(char: string): string | undefined {
  if (DOUBLE_QUOTES.includes(char)) return DOUBLE_QUOTES;
  if (SINGLE_QUOTES.includes(char)) return SINGLE_QUOTES;
  return undefined;
}

/**
 * Splits on whitespace; a value may be quoted. A quote opens only where a value starts (the token's start or just
 * after `key:`) and closes only before whitespace or the end, so an apostrophe inside a word (`o’brien`, which
 * phones type for `'`) stays a letter, and any quote of the same kind closes (phones mix “ and ”).
 */
export function tokenize(text: string): Token[] | { error: string } {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (SPACE.test(text[i]!)) {
      i += 1;
      continue;
    }
    const start = i;
    let key: string | undefined;
    let value = '';
    let quoted = false;
    let atValueStart = true;
    while (i < text.length && !SPACE.test(text[i]!)) {
      const char = text[i]!;
      const family = atValueStart ? quoteFamily(char) : undefined;
      if (family) {
        const closed = readQuoted(text, i + 1, family);
        if (!closed) return { error: `unterminated quote in: ${truncate(text.slice(start), QUOTED_TOKEN)}` };
        value += closed.value;
        i = closed.end;
        quoted = true;
        break;
      }
      atValueStart = false;
      if (char === ':' && key === undefined) {
        key = value;
        value = '';
        atValueStart = true;
      } else {
        value += char;
      }
      i += 1;
    }
    tokens.push({ raw: text.slice(start, i), key, value, quoted });
  }
  return tokens;
}

/** The quoted text from `start` to its closing quote, with `\"` and `\\` unescaped; undefined when never closed. */
function readQuoted(text: string, start: number, family: string): { value: string; end: number } | undefined {
  let value = '';
  for (let i = start; i < text.length; i += 1) {
    const char = text[i]!;
    const next = text[i + 1];
    if (char === '\\' && next !== undefined && (family.includes(next) || next === '\\')) {
      value += next;
      i += 1;
    } else if (family.includes(char) && (next === undefined || SPACE.test(next))) {
      return { value, end: i + 1 };
    } else {
      value += char;
    }
  }
  return undefined;
}

/** The token's text without quotes: `since:last week` for `since:"last week"`. */
export function textOf(token: Token): string {
  return token.key === undefined ? token.value : `${token.key}:${token.value}`;
}

/** The token as the user wrote it, quoted for a message: `"since:last week"`. */
export function show(token: Token): string {
  return `"${truncate(textOf(token), QUOTED_TOKEN)}"`;
}
