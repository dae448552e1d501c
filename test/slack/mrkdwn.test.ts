import { describe, expect, it } from 'vitest';
import { escapeMrkdwn, truncate } from '../../src/slack/mrkdwn.ts';

describe('escapeMrkdwn', () => {
  it.each([
    ['<!channel>', '&lt;!channel&gt;'],
    ['<@U123>', '&lt;@U123&gt;'],
    ['<https://evil|click>', '&lt;https://evil|click&gt;'],
    ['<!subteam^S0123>', '&lt;!subteam^S0123&gt;'],
    ['<!date^1700000000^{date}|x>', '&lt;!date^1700000000^{date}|x&gt;'],
  ])('makes %s inert', (hostile, inert) => {
    expect(escapeMrkdwn(hostile)).toBe(inert);
  });

  it('escapes an ampersand first, so an entity a producer typed stays literal text', () => {
    expect(escapeMrkdwn('AT&T &lt;b&gt;')).toBe('AT&amp;T &amp;lt;b&amp;gt;');
  });

  it('leaves text without control characters alone', () => {
    expect(escapeMrkdwn('Prod Snowflake (eu) 🚀 *bold*')).toBe('Prod Snowflake (eu) 🚀 *bold*');
  });
});

describe('truncate', () => {
  it('returns text that fits unchanged', () => {
    expect(truncate('hello', 5)).toBe('hello');
    expect(truncate('', 0)).toBe('');
  });

  it('cuts longer text to the limit, ending in an ellipsis', () => {
    const cut = truncate('abcdefghij', 5);
    expect(cut).toBe('abcd…');
    expect(cut.length).toBe(5);
  });

  it('never cuts a surrogate pair in half', () => {
    const cut = truncate('ab😀cd', 4); // 😀 is two UTF-16 code units at positions 2 and 3
    expect(cut).toBe('ab…');
    expect(cut.isWellFormed()).toBe(true);
  });

  it('never cuts an escape entity in half', () => {
    const escaped = escapeMrkdwn('a<b&c'); // a&lt;b&amp;c
    for (let max = 1; max <= escaped.length; max += 1) {
      const cut = truncate(escaped, max);
      expect(cut.length).toBeLessThanOrEqual(max);
      expect(cut.replace(/&(amp|lt|gt);/g, '')).not.toMatch(/&/);
    }
    expect(truncate(escaped, 4)).toBe('a…');
    expect(truncate(escaped, 6)).toBe('a&lt;…');
  });

  it('keeps a whole entity that ends exactly at the cut', () => {
    expect(truncate('&lt;abc', 5)).toBe('&lt;…');
  });

  it('gives an empty string when not even the ellipsis fits', () => {
    expect(truncate('abc', 0)).toBe('');
    expect(truncate('abc', 1)).toBe('…');
  });
});
