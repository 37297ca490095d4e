import { count, isRecord, type TokenUsage, type Vendor, type VendorChoice } from './token-usage.js';

/** Anthropic Messages: `{ input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens }`. */
export function anthropicUsage(usage: Record<string, unknown>): TokenUsage {
  return {
    vendor: 'anthropic',
    inputTokens: count(usage.input_tokens),
    outputTokens: count(usage.output_tokens),
    cacheCreationInputTokens: count(usage.cache_creation_input_tokens),
    cacheReadInputTokens: count(usage.cache_read_input_tokens),
  };
}

/**
 * OpenAI, both APIs: Chat Completions' `{ prompt_tokens, completion_tokens,
 * prompt_tokens_details.cached_tokens }` and Responses' `{ input_tokens, output_tokens,
 * input_tokens_details.cached_tokens }`. Cached tokens are part of the prompt count there.
 */
export function openaiUsage(usage: Record<string, unknown>): TokenUsage {
  const chat = 'prompt_tokens' in usage || 'completion_tokens' in usage;
  const prompt = count(chat ? usage.prompt_tokens : usage.input_tokens);
  const details = usage[chat ? 'prompt_tokens_details' : 'input_tokens_details'];
  const cached = Math.min(prompt, count(isRecord(details) ? details.cached_tokens : 0));
  return {
    vendor: 'openai',
    inputTokens: prompt - cached,
    outputTokens: count(chat ? usage.completion_tokens : usage.output_tokens),
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: cached,
  };
}

/**
 * Gemini `usageMetadata`: the prompt count includes cached content; thinking tokens are billed
 * as output.
 */
export function geminiUsage(metadata: Record<string, unknown>): TokenUsage {
  const prompt = count(metadata.promptTokenCount) + count(metadata.toolUsePromptTokenCount);
  const cached = Math.min(prompt, count(metadata.cachedContentTokenCount));
  return {
    vendor: 'gemini',
    inputTokens: prompt - cached,
    outputTokens: count(metadata.candidatesTokenCount) + count(metadata.thoughtsTokenCount),
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: cached,
  };
}

/** Which vendor a JSON body (or SSE event payload) is from, by its shape. */
export function vendorOf(body: Record<string, unknown>): Vendor | undefined {
  if (isRecord(body.usageMetadata)) return 'gemini';
  const usage = isRecord(body.usage)
    ? body.usage
    : isRecord(body.response) && isRecord(body.response.usage)
      ? body.response.usage
      : undefined;
  if (
    body.object === 'response' ||
    body.object === 'chat.completion' ||
    body.object === 'chat.completion.chunk'
  )
    return 'openai';
  if (typeof body.type === 'string' && body.type.startsWith('response.')) return 'openai';
  if (body.type === 'message' || body.type === 'message_start' || body.type === 'message_delta')
    return 'anthropic';
  if (usage === undefined) return undefined;
  if ('prompt_tokens' in usage || 'total_tokens' in usage) return 'openai';
  if ('input_tokens' in usage) return 'anthropic';
  return undefined;
}

/** The usage of a whole (non-streamed) JSON response, or undefined when it has none. */
export function usageFromJson(body: unknown, choice: VendorChoice): TokenUsage | undefined {
  if (!isRecord(body)) return undefined;
  const vendor = choice === 'auto' ? vendorOf(body) : choice;
  switch (vendor) {
    case 'anthropic':
      return isRecord(body.usage) ? anthropicUsage(body.usage) : undefined;
    case 'openai':
      return isRecord(body.usage) ? openaiUsage(body.usage) : undefined;
    case 'gemini':
      return isRecord(body.usageMetadata) ? geminiUsage(body.usageMetadata) : undefined;
    case undefined:
      return undefined;
  }
}

/**
 * A vendor's error body: Anthropic's `{ type: 'error', error: { type, message } }`, OpenAI's
 * `{ error: { message, type, code } }`, Gemini's `{ error: { code, message, status } }`.
 */
export function isVendorErrorBody(body: unknown): boolean {
  if (!isRecord(body) || !isRecord(body.error)) return false;
  const error = body.error;
  if (typeof error.message !== 'string') return false;
  return typeof error.type === 'string' || typeof error.status === 'string' || 'code' in error;
}
