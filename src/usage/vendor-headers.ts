import { type HeadersLike, headerValue } from './headers.js';
import { parseGoDuration } from './reset-headers.js';

/** What a vendor said about one of its windows on its last response. */
export interface VendorWindowReading {
  /** Share of the vendor's window used, 0–1. */
  utilization: number;
  /** Anthropic's `allowed`, `allowed_warning` or `rejected`. */
  status?: string;
  /** Epoch ms at which the vendor's window resets. */
  resetAt?: number;
  /** OpenAI-style remaining and limit tokens. */
  remaining?: number;
  limit?: number;
  /** Epoch ms of the response that said it. */
  at: number;
}

/** Anthropic's unified windows: label, length, and the header names read for each. */
const VENDOR_WINDOWS = [
  ['5h', 5 * 3_600_000],
  ['7d', 7 * 86_400_000],
].map(([label, windowMs]) => ({
  windowMs: windowMs as number,
  utilization: `anthropic-ratelimit-unified-${label}-utilization`,
  status: `anthropic-ratelimit-unified-${label}-status`,
  reset: `anthropic-ratelimit-unified-${label}-reset`,
}));

function timeOf(clock: number | { now(): number }): number {
  return typeof clock === 'number' ? clock : clock.now();
}

/** What responses without vendor readings (most of them) get: no Map per response. */
const NO_READINGS: ReadonlyMap<number, VendorWindowReading> = new Map();

/**
 * Reads the utilization headers of a response, keyed by the vendor window's length in ms:
 * Anthropic's `anthropic-ratelimit-unified-5h-*` and `-7d-*` (utilization 0–1, status, reset in
 * epoch seconds), and OpenAI's `x-ratelimit-limit-tokens` / `-remaining-tokens` /
 * `-reset-tokens` (a per-minute window). Three header look-ups when there are none.
 */
export function readVendorWindows(
  headers: HeadersLike | undefined,
  clock: number | { now(): number },
): ReadonlyMap<number, VendorWindowReading> {
  let readings: Map<number, VendorWindowReading> | undefined;
  // The time is read only when there is a reading to stamp (most responses have none).
  let at: number | undefined;
  for (const names of VENDOR_WINDOWS) {
    // Every response passes here: one look-up decides whether there is anything to read.
    const raw = headerValue(headers, names.utilization);
    if (raw === undefined) continue;
    const utilization = Number(raw);
    if (!Number.isFinite(utilization)) continue;
    at ??= timeOf(clock);
    const reading: VendorWindowReading = { utilization, at };
    const status = headerValue(headers, names.status);
    if (status !== undefined) reading.status = status;
    const reset = Number(headerValue(headers, names.reset));
    if (Number.isFinite(reset) && reset > 0) reading.resetAt = reset * 1_000;
    readings ??= new Map();
    readings.set(names.windowMs, reading);
  }
  const limitRaw = headerValue(headers, 'x-ratelimit-limit-tokens');
  if (limitRaw === undefined) return readings ?? NO_READINGS;
  const limit = Number(limitRaw);
  const remaining = Number(headerValue(headers, 'x-ratelimit-remaining-tokens'));
  if (Number.isFinite(limit) && limit > 0 && Number.isFinite(remaining)) {
    at ??= timeOf(clock);
    const reading: VendorWindowReading = {
      utilization: Math.min(1, Math.max(0, 1 - remaining / limit)),
      remaining,
      limit,
      at,
    };
    const reset = headerValue(headers, 'x-ratelimit-reset-tokens');
    const resetIn = reset === undefined ? undefined : parseGoDuration(reset);
    if (resetIn !== undefined) reading.resetAt = reading.at + resetIn;
    readings ??= new Map();
    readings.set(60_000, reading);
  }
  return readings ?? NO_READINGS;
}

/**
 * Headers only a vendor's API sets (Anthropic, OpenAI, Gemini through OpenAI-compatible
 * gateways): a response carrying one came from the vendor, not from the app itself. Generic
 * names (`x-request-id`, `retry-after`) are not evidence: apps set those too.
 */
const VENDOR_HEADERS = [
  'anthropic-ratelimit-unified-status',
  'anthropic-ratelimit-unified-5h-utilization',
  'anthropic-ratelimit-requests-limit',
  'anthropic-ratelimit-tokens-limit',
  'anthropic-ratelimit-input-tokens-limit',
  'anthropic-organization-id',
  'openai-processing-ms',
  'openai-organization',
  'openai-version',
  'x-ratelimit-limit-requests',
  'x-ratelimit-limit-tokens',
];

/** True when the headers carry one a vendor's API sets; see `VENDOR_HEADERS`. */
export function hasVendorHeaders(headers: HeadersLike | undefined): boolean {
  for (const name of VENDOR_HEADERS) if (headerValue(headers, name) !== undefined) return true;
  return false;
}
