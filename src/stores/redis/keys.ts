import { createHash } from 'node:crypto';

/** Longest encoded tenant key kept readable in a Redis key; longer ones are hashed. */
const MAX_READABLE = 128;

/**
 * Percent-encodes everything but `[A-Za-z0-9._~-]`: what is left cannot open a hash tag (`{`,
 * `}`), end a key segment (`:`), match a pattern (`*`) or break a line.
 */
function encode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Key names of one upstream. Every key of the upstream, tenants included, carries the same
 * `{…}` hash tag so that one script can read the account's and a tenant's state on Redis
 * Cluster without `CROSSSLOT`.
 */
export class UpstreamKeys {
  private readonly base: string;

  constructor(prefix: string, upstream: string) {
    this.base = `${prefix}{${encode(upstream)}}`;
  }

  /** The guard's id within the upstream: `s` for the upstream's own, `t:…` / `h:…` for a tenant. */
  guard(key: string | undefined): string {
    if (key === undefined) return 's';
    const encoded = encode(key);
    if (encoded.length <= MAX_READABLE) return `t:${encoded}`;
    // `h:` and `t:` never meet: a readable key cannot be mistaken for a hashed one.
    return `h:${createHash('sha256').update(key).digest('base64url')}`;
  }

  /** A guard's state hash, then one slot list per window (named by length, so a window added in a deploy gets its own). */
  keysOf(guard: string, windowsMs: readonly number[]): string[] {
    const state = `${this.base}:${guard}`;
    return [state, ...windowsMs.map((ms) => `${state}:w${ms}`)];
  }

  /** The highest record sequence number of one store instance the upstream has applied. */
  marker(instance: string): string {
    return `${this.base}:q:${instance}`;
  }

  /** Who loaded a window's baseline, so that other instances do not load it again. */
  baselineMarker(guard: string, windowMs: number): string {
    return `${this.base}:${guard}:b${windowMs}`;
  }
}

/** Checks a key prefix: no `{` or `}`, which would move every key's hash tag. */
export function checkPrefix(prefix: unknown): string | undefined {
  if (typeof prefix !== 'string') return 'a string';
  if (prefix.includes('{') || prefix.includes('}'))
    return 'a string without { or } (they set Redis Cluster hash tags)';
  return undefined;
}
