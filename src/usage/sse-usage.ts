import { anthropicUsage, geminiUsage, openaiUsage, vendorOf } from './json-usage.js';
import { isRecord, type TokenUsage, type Vendor, type VendorChoice } from './token-usage.js';

/**
 * Follows the usage a stream of server-sent events reports, event by event:
 * - Anthropic: `message_start.message.usage`, then `message_delta.usage`, whose counts are
 *   cumulative (the last one wins, they are never added up); `message_stop` ends it.
 * - OpenAI Chat Completions: the chunk with `usage` (sent when the request set
 *   `stream_options.include_usage`); `[DONE]` ends it.
 * - OpenAI Responses: `response.completed` (or `.incomplete` / `.failed`) with `response.usage`.
 * - Gemini: `usageMetadata` in every chunk, cumulative: the last one wins.
 */
export class SseUsage {
  private current: TokenUsage | undefined;
  /** True once the stream said it is over (a terminal event with its final usage). */
  complete = false;
  /** Events whose data was not JSON (other than `[DONE]`). */
  malformed = 0;
  /** The first error event's payload, if the stream carried one (e.g. Anthropic's `overloaded_error`). */
  error: Record<string, unknown> | undefined;
  private readonly choice: VendorChoice;
  private detected: Vendor | undefined;

  constructor(choice: VendorChoice) {
    this.choice = choice;
  }

  get usage(): TokenUsage | undefined {
    return this.current;
  }

  onEvent(data: string, event: string | undefined): void {
    // Most events of a stream are text deltas. Parsing each would cost more than the rest of
    // the proxy's work, so only events that can carry usage (or an error) are parsed.
    if (!mayCarryUsage(data, event)) return;
    if (data === '[DONE]') {
      this.complete = this.complete || this.current !== undefined;
      return;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(utf8Of(data));
    } catch {
      this.malformed++;
      return;
    }
    if (!isRecord(payload)) return;
    if (event === 'error' || payload.type === 'error') {
      this.error ??= payload;
      return;
    }
    // With auto, the first event that tells its vendor decides for the whole stream: later
    // events (Anthropic's `message_stop`) may not say it again.
    if (this.choice === 'auto') this.detected ??= vendorOf(payload);
    const vendor = this.choice === 'auto' ? this.detected : this.choice;
    if (vendor === 'anthropic') this.anthropic(payload);
    else if (vendor === 'openai') this.openai(payload);
    else if (vendor === 'gemini') this.gemini(payload);
  }

  private gemini(payload: Record<string, unknown>): void {
    if (isRecord(payload.usageMetadata)) this.current = geminiUsage(payload.usageMetadata);
    const candidates = Array.isArray(payload.candidates) ? payload.candidates : [];
    // The last chunk says why the answer ended.
    if (candidates.some((c) => isRecord(c) && typeof c.finishReason === 'string'))
      this.complete = this.current !== undefined;
  }

  private anthropic(payload: Record<string, unknown>): void {
    if (payload.type === 'message_start' && isRecord(payload.message) && isRecord(payload.message.usage)) {
      this.current = anthropicUsage(payload.message.usage);
    } else if (payload.type === 'message_delta' && isRecord(payload.usage)) {
      // Cumulative: the delta's fields replace the start's; fields it leaves out keep theirs.
      const delta = anthropicUsage(payload.usage);
      const base = this.current;
      const has = (key: string) => key in (payload.usage as Record<string, unknown>);
      this.current = {
        vendor: 'anthropic',
        inputTokens: has('input_tokens') || !base ? delta.inputTokens : base.inputTokens,
        outputTokens: delta.outputTokens,
        cacheCreationInputTokens:
          has('cache_creation_input_tokens') || !base
            ? delta.cacheCreationInputTokens
            : base.cacheCreationInputTokens,
        cacheReadInputTokens:
          has('cache_read_input_tokens') || !base ? delta.cacheReadInputTokens : base.cacheReadInputTokens,
      };
    } else if (payload.type === 'message_stop') {
      this.complete = this.current !== undefined;
    }
  }

  private openai(payload: Record<string, unknown>): void {
    if (isRecord(payload.usage)) {
      this.current = openaiUsage(payload.usage);
      return;
    }
    const type = payload.type;
    if (
      typeof type === 'string' &&
      type.startsWith('response.') &&
      isRecord(payload.response) &&
      isRecord(payload.response.usage)
    ) {
      this.current = openaiUsage(payload.response.usage);
      if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed')
        this.complete = true;
    }
  }
}

/** Named events that carry usage, an end, or an error (Anthropic, OpenAI Responses). */
const USAGE_EVENTS = new Set([
  'message_start',
  'message_delta',
  'message_stop',
  'error',
  'response.completed',
  'response.incomplete',
  'response.failed',
]);

/** Unnamed events (OpenAI Chat, Gemini) with a usage object, not `"usage": null`. */
const USAGE_FIELD = /"usage(?:Metadata)?"\s*:\s*\{|"type"\s*:\s*"(?:error|message_stop)"|"finishReason"/;

/** First letters of the names in USAGE_EVENTS. */
const USAGE_EVENT_INITIALS = new Set([...USAGE_EVENTS].map((name) => name.charCodeAt(0)));

function mayCarryUsage(data: string, event: string | undefined): boolean {
  if (event !== undefined && event !== 'message') {
    // Most named events of a stream are deltas (`content_block_delta`): turned away by their
    // first letter, before the set hashes a fresh string.
    return USAGE_EVENT_INITIALS.has(event.charCodeAt(0)) && USAGE_EVENTS.has(event);
  }
  return data === '[DONE]' || USAGE_FIELD.test(data);
}

/** Text read as latin1 (one character per byte) back to what its UTF-8 bytes say. */
export function utf8Of(latin1: string): string {
  // ASCII is the same either way; most usage payloads need no work.
  return /[\x80-\xff]/.test(latin1) ? Buffer.from(latin1, 'latin1').toString('utf8') : latin1;
}
