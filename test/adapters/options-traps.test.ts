/**
 * Options that users of other limiters get wrong: each fails at construction naming the option,
 * the value and the fix, or is said once as a warning when it is valid but probably not meant.
 */
import { describe, expect, it } from 'vitest';
import { quotaGuard as expressGuard } from '../../src/adapters/express.js';
import { quotaGuard as koaGuard } from '../../src/adapters/koa.js';
import { QuotaGuard, UpstreamGuard } from '../../src/index.js';
import { captureLogger } from '../helpers/manual-clock.js';

const adapters = [
  ['express', (o: unknown) => expressGuard(o as Parameters<typeof expressGuard>[0])],
  ['koa', (o: unknown) => koaGuard(o as Parameters<typeof koaGuard>[0])],
] as const;

describe.each(adapters)('%s: options users of other limiters get wrong', (_name, make) => {
  const base = () => ({
    upstream: 'anthropic',
    windows: [{ window: '5h', budget: 1_000 }],
    usage: 'anthropic',
    logger: captureLogger().logger,
  });

  it('takes thresholdPercent: 0.9 for the fraction it almost surely is, and says to write 90', () => {
    expect(() => make({ ...base(), thresholdPercent: 0.9 })).toThrow(
      'thresholdPercent must be a percentage from 1 to 100 (write 90 for 90%',
    );
    expect(() =>
      make({ ...base(), windows: [{ window: '5h', budget: 10, thresholdPercent: 0.99 }] }),
    ).toThrow('windows[0].thresholdPercent must be a percentage from 1 to 100 (write 99 for 99%');
  });

  it('lists the vendor names for usage: 42', () => {
    expect(() => make({ ...base(), usage: 42 })).toThrow(
      "usage must be a vendor whose bodies carry usage ('anthropic', 'openai', 'gemini', 'auto') or a function returning the tokens of a response, got 42",
    );
  });

  it('warns once that budgets cannot trip without usage', () => {
    const log = captureLogger();
    const { usage: _usage, ...noUsage } = base();
    make({ ...noUsage, logger: log.logger });
    const warnings = log.lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain('no usage option: the budgets count only what the app reports');
  });

  it('warns that budget: 0 means no budget here, and is quiet when budget is left out', () => {
    const zero = captureLogger();
    make({ ...base(), windows: [{ window: '5h', budget: 0 }], logger: zero.logger });
    expect(zero.lines.map((l) => l.message)).toEqual([
      expect.stringContaining(
        'windows[0].budget is 0, which here means no budget (only the vendor\'s cap errors hold the primary back), not "block everything"',
      ),
    ]);
    const omitted = captureLogger();
    make({ ...base(), windows: [{ window: '5h' }], logger: omitted.logger });
    expect(omitted.lines).toEqual([]);
  });

  it('accepts express-rate-limit’s standardHeaders spellings and names the others', () => {
    for (const draft of ['draft-6', 'draft-7', 'draft-8', true, false])
      expect(() => make({ ...base(), standardHeaders: draft })).not.toThrow();
    expect(() => make({ ...base(), standardHeaders: 'draft-9' })).toThrow(
      "standardHeaders must be 'draft-6' or 'draft-7' or 'draft-8', got 'draft-9'",
    );
  });

  it('refuses timeouts past Node’s timer limit instead of firing them at once', () => {
    expect(() => make({ ...base(), baselineTimeout: '30d' })).toThrow(
      "baselineTimeout must be at most '24d' (Node's timers cannot wait longer than 2^31 - 1 ms), got '30d'",
    );
    expect(() => make({ ...base(), keyTimeout: 3e9 })).toThrow('keyTimeout must be at most');
    expect(() => make({ ...base(), usageTimeout: '25d' })).toThrow('usageTimeout must be at most');
    expect(() => make({ ...base(), abandonedTimeout: '1w' })).not.toThrow();
  });

  it('refuses a maxTokensPerResponse that is not a whole positive number', () => {
    expect(() => make({ ...base(), maxTokensPerResponse: 1.5 })).toThrow(
      'maxTokensPerResponse must be a positive whole number of tokens, got 1.5',
    );
  });

  it('catches prototype names as unknown options', () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty'])
      expect(() => make({ ...base(), [name]: 1 })).toThrow(`unknown option ${name}`);
    const parsed = { ...base(), ...JSON.parse('{"__proto__": {"polluted": true}}') };
    expect(() => make(parsed)).toThrow('unknown option __proto__');
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('checks the status handler’s options', () => {
    const guard = make(base());
    expect(() => guard.statusHandler({ token: 'short' })).toThrow(
      "statusHandler.token must be a string of at least 8 characters, got 'short'",
    );
    expect(() => guard.statusHandler({ tenants: true } as never)).toThrow(
      'unknown option statusHandler.tenants',
    );
  });
});

describe('the core guards', () => {
  it('catch prototype names as unknown options too', () => {
    expect(() => new QuotaGuard({ budget: 1, constructor: 1 } as never)).toThrow(
      'unknown option constructor',
    );
    expect(() => new UpstreamGuard({ windows: [{ window: '1h', budget: 1, toString: 1 } as never] })).toThrow(
      'unknown option windows[0].toString',
    );
  });
});
