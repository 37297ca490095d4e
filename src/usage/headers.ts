/**
 * Response headers as the adapters meet them: Node's `getHeaders()` object (lower-case names,
 * values string, number or string[]), a fetch `Headers`, or a plain object with any case.
 */
export type HeadersLike =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | number | readonly string[] | undefined>>;

/** One header's value (the first, if repeated), found case-insensitively. */
export function headerValue(headers: HeadersLike | undefined, name: string): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | number | readonly string[] | undefined>>;
  let value = record[name] ?? record[name.toLowerCase()];
  // Node's `getHeaders()` object (null prototype) has lower-case names only: nothing to scan for.
  if (value === undefined && Object.getPrototypeOf(record) !== null) {
    const lower = name.toLowerCase();
    for (const key of Object.keys(record)) {
      if (key.toLowerCase() === lower) {
        value = record[key];
        break;
      }
    }
  }
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value[0];
  return String(value);
}
