import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  isQuotaGuardError,
  parseDuration,
  QuotaGuard,
  type QuotaGuardOptions,
  UpstreamGuard,
  type UpstreamGuardOptions,
} from '../../src/index.js';

function errorOf(build: () => unknown): Error & { option?: string; code?: string } {
  try {
    build();
  } catch (error) {
    return error as Error & { option?: string };
  }
  throw new Error('expected construction to throw');
}

describe('durations', () => {
  it.each([
    ['300s', 300_000],
    ['5m', 300_000],
    ['5h', 18_000_000],
    ['7d', 604_800_000],
    ['1w', 604_800_000],
    ['250ms', 250],
    ['1.5h', 5_400_000],
    [42, 42],
  ])('parses %s', (input, ms) => {
    expect(parseDuration(input, 'window')).toBe(ms);
  });

  it.each(['5x', '', 'h', '-5h', '5 hours', '1e3s'])('rejects %j naming the option and value', (input) => {
    expect(() => parseDuration(input, 'probeInterval')).toThrow(`probeInterval must be a duration`);
    expect(() => parseDuration(input, 'probeInterval')).toThrow(`got '${input}'`);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects %s as a positive duration', (input) => {
    expect(() => parseDuration(input, 'window')).toThrow(`window must be a positive duration`);
  });

  it('labels windows as operators say them', () => {
    expect(
      ['5h', '7d', '90m', '45s', '250ms', '1.5h'].map((d) => formatDuration(parseDuration(d, 'w'))),
    ).toEqual(['5h', '7d', '90m', '45s', '250ms', '90m']);
  });
});

describe('QuotaGuard options', () => {
  const cases: Array<[string, QuotaGuardOptions, string, string]> = [
    [
      'negative budget',
      { budget: -5 },
      'budget',
      'budget must be a non-negative finite number of tokens, got -5',
    ],
    ['infinite budget', { budget: Number.POSITIVE_INFINITY }, 'budget', 'got Infinity'],
    ['NaN budget', { budget: Number.NaN }, 'budget', 'got NaN'],
    [
      'threshold 0',
      { thresholdPercent: 0 },
      'thresholdPercent',
      'thresholdPercent must be a number in (0, 100], got 0',
    ],
    ['threshold over 100', { thresholdPercent: 100.5 }, 'thresholdPercent', 'got 100.5'],
    ['zero window', { window: 0 }, 'window', 'window must be a positive duration'],
    ['unparseable window', { window: '5 hours' as never }, 'window', "got '5 hours'"],
    [
      'negative probe interval',
      { probeInterval: -1 },
      'probeInterval',
      'probeInterval must be a positive duration',
    ],
    ['zero probe interval', { probeInterval: '0s' }, 'probeInterval', "got '0s'"],
    [
      'resolution over the window',
      { window: '1h', resolution: '2h' },
      'resolution',
      'no longer than the window (1h)',
    ],
    ['negative resolution', { resolution: -1 }, 'resolution', 'non-negative duration'],
    ['clock without now', { clock: {} as never }, 'clock', 'clock must be an object with a now() method'],
    [
      'bad logger',
      { logger: { warn() {} } as never },
      'logger',
      'logger must be an object with warn() and error()',
    ],
    ['enabled as a string', { enabled: 'yes' as never }, 'enabled', "enabled must be a boolean, got 'yes'"],
    ['a typo', { treshold: 90 } as never, 'treshold', 'unknown option treshold'],
  ];

  it.each(cases)('fails on %s, naming the option', (_name, options, option, message) => {
    const error = errorOf(() => new QuotaGuard(options));
    expect(isQuotaGuardError(error)).toBe(true);
    expect(error.code).toBe('ERR_QUOTA_GUARD_OPTION');
    expect(error.option).toBe(option);
    expect(error.message).toContain(message);
  });

  it('accepts the documented defaults', () => {
    const info = new QuotaGuard().info();
    expect(info).toMatchObject({
      budgetTokens: 0,
      windowMs: 18_000_000,
      thresholdPercent: 99,
      enabled: true,
    });
  });
});

describe('UpstreamGuard options', () => {
  const cases: Array<[string, UpstreamGuardOptions, string]> = [
    ['no windows', { windows: [] }, 'windows must be a non-empty array'],
    [
      'a negative window budget',
      {
        windows: [
          { window: '5h', budget: 1 },
          { window: '7d', budget: -5 },
        ],
      },
      'windows[1].budget must be a non-negative finite number of tokens, got -5',
    ],
    [
      'a window threshold',
      { windows: [{ window: '5h', thresholdPercent: 0 }] },
      'windows[0].thresholdPercent must be a number in (0, 100], got 0',
    ],
    [
      'a window without length',
      { windows: [{ budget: 5 } as never] },
      'windows[0].window must be a duration',
    ],
    [
      'two windows of one length',
      { windows: [{ window: '5h' }, { window: '300m' }] },
      'windows[1].window must be a length no other window has',
    ],
    [
      'an unknown window key',
      { windows: [{ window: '5h', bugdet: 5 } as never] },
      'unknown option windows[0].bugdet',
    ],
    [
      'a window resolution',
      { windows: [{ window: '1h', resolution: '2h' }] },
      'windows[0].resolution must be no longer than the window',
    ],
  ];

  it.each(cases)('fails on %s, naming the option', (_name, options, message) => {
    expect(() => new UpstreamGuard(options)).toThrow(message);
  });

  it('names the guard-level option when a guard-level resolution is too long for one window', () => {
    expect(
      () => new UpstreamGuard({ resolution: '2h', windows: [{ window: '7d' }, { window: '1h' }] }),
    ).toThrow("resolution must be no longer than the window (1h), got '2h'");
  });
});
