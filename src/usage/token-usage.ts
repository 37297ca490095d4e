/** The vendors whose response bodies quota-guard reads. */
export type Vendor = 'anthropic' | 'openai' | 'gemini';

/** Which extractor a guard uses: one vendor's, or `auto` (picked by the body's shape). */
export type VendorChoice = Vendor | 'auto';

/**
 * One response's token usage in one shape, whatever the vendor called it. Input excludes
 * cached tokens; cache reads and writes are their own fields, so `weigh` can price them.
 */
export interface TokenUsage {
  vendor: Vendor;
  inputTokens: number;
  outputTokens: number;
  /** Anthropic's `cache_creation_input_tokens`. */
  cacheCreationInputTokens: number;
  /** Anthropic's `cache_read_input_tokens`, OpenAI's `cached_tokens`, Gemini's `cachedContentTokenCount`. */
  cacheReadInputTokens: number;
}

/** Turns a response's usage into the tokens charged to the guard. */
export type Weigh = (usage: TokenUsage) => number;

/**
 * The default: every input and output token, cache writes and reads included.
 *
 * @example
 * // Cache reads at a tenth, as vendors price them:
 * const weigh: Weigh = (u) => u.inputTokens + u.outputTokens + u.cacheCreationInputTokens + 0.1 * u.cacheReadInputTokens;
 */
export const defaultWeigh: Weigh = (u) =>
  u.inputTokens + u.outputTokens + u.cacheCreationInputTokens + u.cacheReadInputTokens;

/**
 * One count field of a vendor's usage: 0 when absent (vendors omit fields), the count when it is
 * a non-negative safe integer, and NaN for anything else (`1e308`, `-5`, `2.5`, `"12"`): the
 * usage as a whole is then implausible, and the reporter rejects and counts it rather than
 * charge a made-up number.
 */
export function count(value: unknown): number {
  if (value === undefined || value === null) return 0;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : Number.NaN;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
