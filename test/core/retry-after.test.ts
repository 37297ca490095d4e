import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../src/index.js';

const NOW = Date.parse('2026-12-01T10:00:00Z');

describe('parseRetryAfter', () => {
  it('reads delta-seconds as seconds, never as a year', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter('1.5', NOW)).toBe(1_500);
  });

  it('reads the three HTTP-date forms', () => {
    expect(parseRetryAfter('Tue, 01 Dec 2026 10:02:00 GMT', NOW)).toBe(120_000); // IMF-fixdate
    expect(parseRetryAfter('Tuesday, 01-Dec-26 10:05:00 GMT', NOW)).toBe(300_000); // RFC 850
    expect(parseRetryAfter('Tue Dec  1 10:01:00 2026', NOW)).toBe(
      60_000 - new Date(NOW).getTimezoneOffset() * 60_000,
    ); // asctime (local)
  });

  it('clamps a date in the past to 0', () => {
    expect(parseRetryAfter('Tue, 01 Dec 2026 09:00:00 GMT', NOW)).toBe(0);
  });

  it.each([undefined, '', 'soon', '-5', '12abc', 'Foo, 99 Bar 2026'])('rejects %j', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });
});
