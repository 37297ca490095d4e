import type { Transform } from 'node:stream';
import { constants, createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { createParser, type EventSourceParser } from 'eventsource-parser';
import { usageFromJson } from './json-usage.js';
import { SseUsage } from './sse-usage.js';
import type { TokenUsage, VendorChoice } from './token-usage.js';

/** What a tapped body held, once it ended. */
export interface BodyReading {
  usage: TokenUsage | undefined;
  /** The stream reached its terminal event, or the JSON body was read whole. */
  complete: boolean;
  /** The parsed JSON body (for cap-error classification), when it was JSON and under the cap. */
  json: unknown;
  /** A stream's error event payload, if any. */
  streamError: Record<string, unknown> | undefined;
  /** Why usage could not be read, if it could not. */
  problem: 'malformed' | 'too_large' | 'no_usage' | 'decompress' | undefined;
}

export interface BodyTapOptions {
  vendor: VendorChoice;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  /** Bytes of a JSON body kept for parsing; beyond them the body is passed on unread. */
  maxJsonBytes: number;
  /** Characters one SSE event may span; a longer one ends extraction for the stream. */
  maxEventChars: number;
  /**
   * Bytes a compressed body may inflate to; past them inflating stops and the reading says
   * `too_large`. Bounds the CPU a decompression bomb can cost. Default 64 MiB.
   */
  maxInflatedBytes?: number;
}

/**
 * Reads token usage from a response body as it passes, without holding it: the bytes the
 * client gets are never touched. SSE bodies go through an incremental parser (memory bounded
 * by the largest event); JSON bodies are kept up to a cap and parsed at the end; compressed
 * bodies are decompressed on a side copy.
 */
export class BodyTap {
  private readonly options: BodyTapOptions;
  private kind: 'sse' | 'json' | undefined;
  private parser: EventSourceParser | undefined;
  private readonly sse: SseUsage;
  /** A JSON body's chunks: strings as the app wrote them, or bytes. */
  private jsonParts: Array<string | Buffer> = [];
  /** Decoded body bytes seen so far. */
  private bytes = 0;
  private tooLarge = false;
  private sseFailed = false;
  private decompressor: Transform | undefined;
  private decompressFailed = false;
  /** Inflating stopped on purpose: the tap gave up on the body, or it inflated past its bound. */
  private decompressStopped = false;
  private inflatedTooMuch = false;
  private ended = false;
  private flushing: Promise<void> | undefined;

  constructor(options: BodyTapOptions) {
    this.options = options;
    this.sse = new SseUsage(options.vendor);
    const type = options.contentType?.toLowerCase() ?? '';
    if (type.includes('text/event-stream')) this.kind = 'sse';
    else if (type.includes('json')) this.kind = 'json';
    const encoding = options.contentEncoding?.toLowerCase().trim();
    if (encoding === 'gzip' || encoding === 'x-gzip')
      this.decompressor = createGunzip({ finishFlush: constants.Z_SYNC_FLUSH });
    else if (encoding === 'deflate')
      this.decompressor = createInflate({ finishFlush: constants.Z_SYNC_FLUSH });
    else if (encoding === 'br')
      this.decompressor = createBrotliDecompress({ finishFlush: constants.BROTLI_OPERATION_FLUSH });
    if (this.decompressor) {
      const maxInflated = options.maxInflatedBytes ?? 64 * 1_048_576;
      this.decompressor.on('data', (chunk: Buffer) => {
        if (this.decompressStopped) return;
        if (this.bytes + chunk.length > maxInflated) {
          this.inflatedTooMuch = true;
          this.stopInflating();
          return;
        }
        this.consume(chunk);
      });
      this.decompressor.on('error', () => {
        this.decompressFailed = true;
      });
    }
  }

  /** A chunk as the app writes it. */
  write(chunk: Buffer | Uint8Array | string): void {
    if (this.ended) return;
    if (this.decompressor) {
      if (!this.decompressFailed && !this.decompressStopped) this.decompressor.write(chunk);
      return;
    }
    this.consume(chunk);
  }

  /** True once nothing more of the body can change the reading: the rest need not be read. */
  private get givenUp(): boolean {
    return this.kind === 'json' ? this.tooLarge : this.kind === 'sse' ? this.sseFailed : false;
  }

  /**
   * Stops a decompressor for good: no more bytes are inflated, for a body the tap has given up
   * on (a 1 MB gzip past `maxJsonBytes` would otherwise still cost seconds of CPU) or one past
   * `maxInflatedBytes`.
   */
  private stopInflating(): void {
    if (this.decompressStopped) return;
    this.decompressStopped = true;
    this.decompressor?.destroy();
  }

  /** Bytes of the (decompressed) body read so far: bounded by the caps, whatever was sent. */
  get bytesRead(): number {
    return this.bytes;
  }

  /**
   * The body is over (or cut off): read what was seen. A plain value, at once, unless a
   * decompressor still has bytes to hand over.
   */
  end(): BodyReading | Promise<BodyReading> {
    this.ended = true;
    const decompressor = this.decompressor;
    if (!decompressor || this.decompressFailed || this.decompressStopped) return this.reading();
    this.flushing ??= this.flush(decompressor);
    return this.flushing.then(() => this.reading());
  }

  /** Waits for the decompressor to hand over its last bytes. */
  private flush(decompressor: Transform): Promise<void> {
    return new Promise<void>((resolve) => {
      decompressor.once('end', resolve);
      // Stopped while flushing (the last bytes went past the bound): no 'end' comes then.
      decompressor.once('close', resolve);
      decompressor.once('error', () => resolve());
      decompressor.end();
    });
  }

  /**
   * Bytes are read as latin1, one character per byte: several times cheaper than UTF-8 decoding
   * and never split across chunks. SSE framing (CR, LF, `data:`) and the JSON of usage are
   * ASCII; the few payloads that are parsed are turned back into UTF-8 first (`utf8Of`).
   */
  private consume(chunk: Buffer | Uint8Array | string): void {
    if (typeof chunk === 'string') {
      // What `res.json()` writes: a JSON body stays a string, parsed as it is at the end.
      this.bytes += Buffer.byteLength(chunk);
      if (chunk.length === 0 || !this.detect(chunk)) return;
      if (this.kind === 'json') this.feedJson(chunk);
      else this.feedSse(Buffer.from(chunk).toString('latin1'));
      return;
    }
    const bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.bytes += bytes.length;
    if (bytes.length > 0 && (this.kind !== undefined || this.detect(firstNonBlank(bytes)))) {
      if (this.kind === 'json') this.feedJson(bytes);
      else this.feedSse(bytes.toString('latin1'));
    }
    if (this.decompressor && this.givenUp) this.stopInflating();
  }

  /** Settles the body's kind from its first characters when its content type did not; false while unknown. */
  private detect(start: string): boolean {
    if (this.kind !== undefined) return true;
    const text = start.trimStart();
    if (text === '') return false;
    this.kind = text.startsWith('{') || text.startsWith('[') ? 'json' : 'sse';
    return true;
  }

  private feedSse(text: string): void {
    if (this.sseFailed) return;
    this.parser ??= createParser({
      onEvent: (event) => this.sse.onEvent(event.data, event.event),
      onError: (error) => {
        if ((error as { type?: string }).type === 'max-buffer-size-exceeded') this.sseFailed = true;
      },
      maxBufferSize: this.options.maxEventChars,
    });
    try {
      this.parser.feed(text);
    } catch {
      this.sseFailed = true;
    }
  }

  private feedJson(part: string | Buffer): void {
    if (this.tooLarge) return;
    if (this.bytes > this.options.maxJsonBytes) {
      this.tooLarge = true;
      this.jsonParts = [];
      return;
    }
    this.jsonParts.push(part);
  }

  /** The JSON body's text: joined strings as they are, bytes decoded as UTF-8 once, whole. */
  private jsonText(): string {
    const parts = this.jsonParts;
    if (parts.every((p) => typeof p === 'string')) return parts.join('');
    return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))).toString('utf8');
  }

  private reading(): BodyReading {
    if (this.kind === 'json') return this.jsonReading();
    const usage = this.sse.usage;
    let problem: BodyReading['problem'];
    if (this.decompressFailed) problem = 'decompress';
    else if (this.sseFailed || this.inflatedTooMuch) problem = 'too_large';
    else if (!this.sse.complete) problem = this.sse.malformed > 0 ? 'malformed' : 'no_usage';
    return { usage, complete: this.sse.complete, json: undefined, streamError: this.sse.error, problem };
  }

  private jsonReading(): BodyReading {
    const base = { usage: undefined, complete: false, json: undefined, streamError: undefined };
    if (this.decompressFailed) return { ...base, problem: 'decompress' };
    if (this.tooLarge || this.inflatedTooMuch) return { ...base, problem: 'too_large' };
    let json: unknown;
    try {
      json = JSON.parse(this.jsonText());
    } catch {
      return { ...base, problem: 'malformed' };
    }
    const usage = usageFromJson(json, this.options.vendor);
    return {
      usage,
      complete: usage !== undefined,
      json,
      streamError: undefined,
      problem: usage ? undefined : 'no_usage',
    };
  }
}

/** The first character of a chunk that is not blank, or '' (no string made of the chunk). */
function firstNonBlank(bytes: Buffer): string {
  for (const byte of bytes) {
    // space, tab, LF, CR
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return String.fromCharCode(byte);
  }
  return '';
}
