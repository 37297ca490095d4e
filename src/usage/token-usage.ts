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

/** A finite, non-negative count, or 0: vendors omit fields rather than send garbage, but bodies can be anything. */
export function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
