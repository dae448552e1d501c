import { describe, expect, it } from 'vitest';
import { storableJson, storableText } from '../../src/store/storable.ts';

describe('storableText', () => {
  it('writes NUL and unpaired surrogates as visible escapes and leaves everything else alone', () => {
    expect(storableText('a\u0000b')).toBe('a\\u0000b');
    expect(storableText('x\ud800y')).toBe('x\\ud800y');
    expect(storableText('x\udc00')).toBe('x\\udc00');
    expect(storableText('\udc00\ud800')).toBe('\\udc00\\ud800');
    expect(storableText('ok 😀 \\u0000 é')).toBe('ok 😀 \\u0000 é');
  });

  it('escapes every string of a JSON value, keys included, and keeps numbers, booleans and null', () => {
    expect(storableJson({ 'k\u0000': ['v\ud800', 1, true, null, { n: 'a\u0000' }] })).toEqual({
      'k\\u0000': ['v\\ud800', 1, true, null, { n: 'a\\u0000' }],
    });
  });
});
