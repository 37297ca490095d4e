import { randomBytes } from 'node:crypto';
import type { WindowSelector } from '../../core/base-guard.js';
import { type Baseline, isTokenCount, isUsableDelay } from '../../core/baseline.js';
import type { Clock } from '../../core/clock.js';
import type { Decision, DecisionReason } from '../../core/decision.js';
import { type Duration, parseTimerDuration } from '../../core/duration.js';
import { describeValue, escapeForLog, optionError } from '../../core/errors.js';
import { consoleLogger, type Logger } from '../../core/logger.js';
import { checkKnownKeys } from '../../core/options.js';
import type { UpstreamInfo } from '../../core/upstream-guard.js';
import { resolveCapScope } from '../cap-scope.js';
import type { GuardTarget, QuotaStore, StoreDefinition } from '../store.js';
import { alreadyDefined, notDefined } from '../store-errors.js';
import { queuesOffline, type RedisClientLike, type ScriptRunner, scriptRunner } from './client.js';
import { Deadlines } from './deadlines.js';
import { type GuardCall, UpstreamDefinition } from './definition.js';
import { decodeInfo } from './info.js';
import { checkPrefix, UpstreamKeys } from './keys.js';
import { LocalGuards } from './local-guards.js';
import { WriteQueue, type WriteQueueStats } from './write-queue.js';

/** Options of `new RedisStore(...)`. */
export interface RedisStoreOptions {
  /**
   * An `ioredis` client or `Cluster`, or a connected `node-redis` client or cluster. Create it
   * without an offline queue (`enableOfflineQueue: false` / `disableOfflineQueue: true`) so that
   * nothing waits for a reconnect. The store never closes it: it is yours.
   */
  client: RedisClientLike;
  /** Put before every key. No `{` or `}`. Default `'quota-guard:'`. */
  prefix?: string;
  /**
   * Longest wait for Redis on any call, in ms (or a duration such as `'200ms'`); then this
   * process's guard answers (reason `store_unavailable`) and writes wait in the buffer. Default `200`.
   */
  timeoutMs?: Duration;
  /** After Redis failed, how long calls go straight to the local guard before Redis is asked again. Default `'1s'`. */
  retryInterval?: Duration;
  /**
   * Writes (usage, cap errors, probe outcomes) kept while Redis is away, to be written once it is
   * back; beyond it the oldest is dropped, counted and logged. Default `100_000`.
   */
  maxBufferedWrites?: number;
  /** Tenants whose last shared state is kept for the local guard. Default `10_000`. */
  maxKeys?: number;
  /** Where the store's own trouble (Redis down, back, writes dropped) is logged. Default: the console. */
  logger?: Logger;
  /** The time the scripts run on. Default: the Redis server's own clock (`TIME`), the same for every instance. For tests. */
  clock?: Clock;
}

/** `RedisStore.stats()`. */
export interface RedisStoreStats extends WriteQueueStats {
  upstreams: number;
  /** Tenant guards this store knows of (Redis holds them; this is what this process saw). */
  keys: number;
  evictedKeys: number;
  /** True while Redis is taken for away and the local guards answer. */
  unavailable: boolean;
  /** Calls Redis failed or answered too late since the store was made. */
  failures: number;
}

const OPTION_KEYS = {
  client: true,
  prefix: true,
  timeoutMs: true,
  retryInterval: true,
  maxBufferedWrites: true,
  maxKeys: true,
  logger: true,
  clock: true,
} as const;

const TIMED_OUT = new Error('quota-guard: Redis did not answer in time');

/** What a decision carries that a later outcome needs: per guard epoch, and when its probe was granted. */
interface DecisionMeta {
  epochs: string[];
  probeAt: string;
}

type ScriptReply = [string, number, DecisionReason, string, string, string, string, string, string];

/**
 * Guard state in Redis, shared by every instance that uses the same Redis and prefix: one
 * budget, one cap state and one probe across all of them. Each decision is one atomic script
 * call on the server's clock. When Redis is slow or down, a guard in this process answers
 * within `timeout`, and the writes meanwhile are sent once Redis is back, none twice.
 *
 * @example
 * import Redis from 'ioredis';
 * const store = new RedisStore({ client: new Redis(process.env.REDIS_URL!, { enableOfflineQueue: false }) });
 */
export class RedisStore implements QuotaStore {
  private readonly run: ScriptRunner;
  private readonly runPrepared: (numKeys: number, keysAndArgs: string[]) => Promise<unknown>;
  private readonly runLoaded: (error: unknown, numKeys: number, keysAndArgs: string[]) => Promise<unknown>;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private readonly logger: Logger;
  private readonly clock: Clock | undefined;
  private readonly upstreams = new Map<string, UpstreamDefinition>();
  private readonly local: LocalGuards;
  private readonly queue: WriteQueue;
  private readonly meta = new WeakMap<Decision, DecisionMeta>();
  private readonly deadlines: Deadlines;
  /** Who this process is, for record sequence numbers and baseline markers. */
  private readonly instance = randomBytes(8).toString('hex');
  private downUntil = 0;
  private failures = 0;
  private unavailable = false;
  private readonly tenantsSeen = new Set<string>();

  constructor(options: RedisStoreOptions) {
    if (typeof options !== 'object' || options === null)
      throw optionError('RedisStore(options)', 'an object', options);
    checkKnownKeys(options, OPTION_KEYS, '');
    ({ run: this.run, prepared: this.runPrepared, loaded: this.runLoaded } = scriptRunner(options.client));
    const prefix = options.prefix ?? 'quota-guard:';
    const bad = checkPrefix(prefix);
    if (bad !== undefined) throw optionError('prefix', bad, prefix);
    this.prefix = prefix;
    this.timeoutMs =
      options.timeoutMs === undefined ? 200 : parseTimerDuration(options.timeoutMs, 'timeoutMs');
    this.retryMs =
      options.retryInterval === undefined
        ? 1_000
        : parseTimerDuration(options.retryInterval, 'retryInterval');
    const maxQueued = options.maxBufferedWrites ?? 100_000;
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 1)
      throw optionError('maxBufferedWrites', 'a positive integer', maxQueued);
    const maxKeys = options.maxKeys ?? 10_000;
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1)
      throw optionError('maxKeys', 'a positive integer', maxKeys);
    this.logger = options.logger ?? consoleLogger;
    if (options.clock !== undefined && typeof options.clock?.now !== 'function')
      throw optionError('clock', 'an object with now()', options.clock);
    this.clock = options.clock;
    this.local = new LocalGuards(maxKeys);
    this.deadlines = new Deadlines(this.timeoutMs, TIMED_OUT);
    this.queue = new WriteQueue(
      maxQueued,
      this.retryMs,
      (p) => this.withTimeout(p),
      this.logger,
      (ok, error) => (ok ? this.up() : this.down(error)),
    );
    if (queuesOffline(options.client)) {
      this.logger.warn(
        'quota-guard [redis]: the Redis client queues commands while disconnected; create it with enableOfflineQueue: false (ioredis) or disableOfflineQueue: true (node-redis) so that no call waits for a reconnect',
      );
    }
  }

  define(upstream: string, definition: StoreDefinition): void {
    if (this.upstreams.has(upstream)) {
      throw alreadyDefined(upstream);
    }
    const { capScope, ...options } = definition;
    const def = new UpstreamDefinition(
      upstream,
      { ...options, name: upstream },
      resolveCapScope(capScope),
      new UpstreamKeys(this.prefix, upstream),
    );
    this.local.define(upstream, definition);
    this.upstreams.set(upstream, def);
  }

  decide(target: GuardTarget): Promise<Decision> {
    let def: UpstreamDefinition;
    try {
      def = this.definition(target);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!def.enabled) return Promise.resolve(DISABLED);
    if (this.isDown()) return Promise.resolve(this.localDecision(def, target));
    const calls = def.both(target);
    if (target.key !== undefined) this.tenantsSeen.add(`${target.upstream}\u0000${target.key}`);
    const sent = this.call(calls, 'decide', []);
    // One promise for the caller, settled by the reply or by the deadline, whichever comes first.
    return new Promise<Decision>((resolve) => {
      const deadline = this.deadlines.start(() => {
        this.down(TIMED_OUT);
        // A probe Redis granted after all, to a decision nobody waits for: given back.
        sent.then(
          (late) => this.releaseLate(calls, late as ScriptReply),
          () => undefined,
        );
        resolve(this.localDecision(def, target));
      });
      sent.then(
        (reply) => {
          if (deadline.done) return;
          deadline.done = true;
          resolve(this.decided(def, target, calls, reply as ScriptReply | string));
        },
        (error: unknown) => {
          if (deadline.done) return;
          deadline.done = true;
          this.down(error);
          resolve(this.localDecision(def, target));
        },
      );
    });
  }

  private decided(
    def: UpstreamDefinition,
    target: GuardTarget,
    calls: GuardCall[],
    reply: ScriptReply | string,
  ): Decision {
    if (this.unavailable || this.downUntil !== 0) this.up();
    if (typeof reply === 'string') return this.withinDecision(def, target, reply);
    const [route, probe, reason, now, epochs, , , seen, changes] = reply;
    const at = Number(now);
    this.local.saw(target, seen);
    def.changed(calls, changes, at);
    const fallback = route === 'fallback';
    const decision: Decision = Object.freeze({
      route: fallback ? 'fallback' : 'primary',
      probe: probe === 1,
      reason,
      state: fallback || probe === 1 ? 'quota_exceeded' : 'within_quota',
      epoch: Number(epochs.split(',')[0]),
      ...(fallback ? this.retryFields(def, reply, at) : {}),
    });
    if (probe === 1) {
      this.meta.set(decision, { epochs: epochs.split(','), probeAt: now });
      def.options.onProbe?.({
        name: def.name,
        ...(target.key === undefined ? {} : { key: target.key }),
        windows: exceededWindows(seen, calls),
        at,
      });
      def.logger.info?.(`${def.prefix(target.key)}: probe granted`);
    }
    return decision;
  }

  async record(target: GuardTarget, tokens: number): Promise<void> {
    const def = this.definition(target);
    if (!def.enabled) return;
    if (!isTokenCount(tokens)) {
      def.ignored.usage++;
      def.logger.warn(
        `${def.prefix(target.key)}: record() ignored ${describeValue(tokens)}: tokens must be a non-negative safe integer`,
      );
      return;
    }
    if (tokens === 0) return;
    const calls = def.both(target);
    const seq = String(++def.seq);
    const at = this.clock === undefined ? String(Date.now() + this.offset) : String(this.clock.now());
    const marker = def.keys.marker(this.instance);
    const send = () => this.call(calls, 'record', [seq, at, String(tokens)], marker);
    await this.write(def, target, send, tokens, () =>
      this.local.record(target, tokens, def.windows, def.tenantWindows),
    );
  }

  async success(target: GuardTarget, decision?: Decision): Promise<void> {
    const def = this.definition(target);
    if (!def.enabled) return;
    const local = this.local.localOf(decision);
    if (local !== undefined) return this.local.memory.success(target, local);
    if (decision !== undefined && (decision.route !== 'primary' || !decision.probe)) {
      // A primary decision that was no probe was taken while every window was within quota:
      // its success can end no exceeded period (its epoch predates any), so Redis is not asked.
      return;
    }
    const meta = decision === undefined ? undefined : this.meta.get(decision);
    const calls = def.both(target);
    const epochs = calls.map((_, i) => meta?.epochs[i] ?? '-1');
    await this.write(
      def,
      target,
      () => this.call(calls, 'success', epochs),
      0,
      () => this.local.memory.success(target, decision),
    );
  }

  async capError(target: GuardTarget, retryAfterMs?: number, selector?: WindowSelector): Promise<void> {
    const def = this.definition(target);
    if (!def.enabled) return;
    let retry = retryAfterMs;
    if (retry !== undefined && !isUsableDelay(retry)) {
      def.ignored.retryAfter++;
      retry = undefined;
    }
    const call = def.capped(target);
    const index = selector?.window === undefined ? 0 : windowIndex(call, selector.window) + 1;
    const args = [retry === undefined ? '-1' : String(retry), String(index)];
    await this.write(
      def,
      target,
      () => this.call([call], 'cap', args),
      0,
      () => this.local.memory.capError(target, retry, selector),
    );
  }

  async releaseProbe(target: GuardTarget, decision: Decision): Promise<void> {
    const def = this.definition(target);
    const local = this.local.localOf(decision);
    if (local !== undefined) return this.local.memory.releaseProbe(target, local);
    const meta = this.meta.get(decision);
    if (meta === undefined) return;
    this.meta.delete(decision);
    await this.write(
      def,
      target,
      () => this.call(def.both(target), 'release', [meta.probeAt]),
      0,
      () => undefined,
    );
  }

  /**
   * Adds usage spent before the instances started, once per window across instances: the first
   * instance to load a window marks it, and the others, seeing the mark, load nothing. Calls from
   * the instance that marked it add (a loader may come in parts).
   */
  async loadBaseline(target: GuardTarget, baseline: Baseline, selector?: WindowSelector): Promise<void> {
    const def = this.definition(target);
    if (!def.enabled) return;
    const call = def.one(target);
    const windows =
      selector?.window === undefined ? call.windows : [call.windows[windowIndex(call, selector.window)]!];
    const guardId = def.keys.guard(target.key);
    for (const w of windows) {
      const pairs = baselinePairs(baseline, w.windowMs, Math.max(1, w.resolutionMs), def, target);
      if (pairs === undefined) return;
      const index = call.windows.indexOf(w) + 1;
      const marker = def.keys.baselineMarker(guardId, w.windowMs);
      await this.withTimeout(this.call([call], 'baseline', [String(index), this.instance, ...pairs], marker));
    }
  }

  async reset(target: GuardTarget): Promise<void> {
    const def = this.definition(target);
    const call = def.one(target);
    const reply = (await this.withTimeout(this.call([call], 'reset', []))) as [number, string, string];
    def.changed([call], reply[2], Number(reply[1]));
  }

  async resume(target: GuardTarget): Promise<void> {
    const def = this.definition(target);
    const call = def.one(target);
    const reply = (await this.withTimeout(this.call([call], 'resume', []))) as [number, string, string];
    def.changed([call], reply[2], Number(reply[1]));
  }

  /** The shared numbers, as every instance sees them; the local guard's while Redis is away. */
  async info(target: GuardTarget): Promise<UpstreamInfo> {
    const def = this.definition(target);
    const call = def.one(target);
    if (!this.isDown()) {
      try {
        const reply = (await this.withTimeout(this.call([call], 'info', []))) as string[];
        return decodeInfo(def, call, reply);
      } catch (error) {
        this.down(error);
      }
    }
    return this.local.memory.info(target);
  }

  stats(): RedisStoreStats {
    return {
      upstreams: this.upstreams.size,
      keys: this.tenantsSeen.size,
      evictedKeys: 0,
      unavailable: this.unavailable,
      failures: this.failures,
      ...this.queue.stats(),
    };
  }

  /** Sends what waits for Redis now; resolves when it is written or Redis failed again. */
  flush(): Promise<void> {
    return this.queue.drain();
  }

  /** Stops the store's timers. The Redis client is the app's: close it yourself. */
  close(): void {
    this.queue.close();
    this.deadlines.close();
  }

  // --- internals ---

  /** Server time minus local time, as last seen: places usage recorded while Redis was away. */
  private offset = 0;

  private call(
    calls: readonly GuardCall[],
    op: string,
    extra: string[],
    extraKey?: string,
  ): Promise<unknown> {
    if (op === 'decide' && calls.length === 1 && this.clock === undefined) {
      // The upstream's own decision: the same arguments every time, built once.
      const call = calls[0]!;
      call.decide ??= [...call.keys, 'decide', '0', '1', ...call.lines, call.config];
      const all = call.decide;
      const n = call.keys.length;
      return this.runPrepared(n, all).catch((error: unknown) => this.runLoaded(error, n, all));
    }
    const keys: string[] = [];
    const args: string[] = [
      op,
      this.clock === undefined ? '0' : String(this.clock.now()),
      String(calls.length),
    ];
    for (const c of calls) {
      keys.push(...c.keys);
      args.push(...c.lines);
    }
    for (const c of calls) args.push(c.config);
    if (extraKey !== undefined) keys.push(extraKey);
    args.push(...extra);
    return this.run(keys, args);
  }

  /** A write: now if nothing waits before it, else (or when it fails) queued in order. */
  private async write(
    def: UpstreamDefinition,
    target: GuardTarget,
    send: () => Promise<unknown>,
    tokens: number,
    locally: () => void,
  ): Promise<void> {
    if (this.queue.pending > 0 || this.isDown()) {
      if (this.isDown()) locally();
      this.queue.push({ send, tokens });
      return;
    }
    try {
      const reply = (await this.withTimeout(send())) as [number, string, string] | undefined;
      this.up();
      if (Array.isArray(reply) && typeof reply[1] === 'string') {
        if (this.clock === undefined) this.offset = Number(reply[1]) - Date.now();
        if (reply[2]) def.changed(def.both(target), reply[2], Number(reply[1]));
      }
    } catch (error) {
      this.down(error);
      locally();
      this.queue.push({ send, tokens });
    }
  }

  /** The script's short answer for the common case: `F<epochs>|<seen>`, every window within quota. */
  private withinDecision(def: UpstreamDefinition, target: GuardTarget, reply: string): Decision {
    const bar = reply.indexOf('|');
    this.local.saw(target, reply.slice(bar + 1));
    // Within quota every decision of an epoch is the same value: made once per epoch, not per call.
    const epochs = reply.slice(1, bar);
    if (target.key === undefined && def.within?.epochs === epochs) return def.within.decision;
    const comma = epochs.indexOf(',');
    const decision: Decision = Object.freeze({
      route: 'primary',
      probe: false,
      reason: 'within_quota',
      state: 'within_quota',
      epoch: Number(comma < 0 ? epochs : epochs.slice(0, comma)),
    });
    if (target.key === undefined) def.within = { epochs, decision };
    return decision;
  }

  private localDecision(def: UpstreamDefinition, target: GuardTarget): Decision {
    return this.local.decide(target, def.windows, def.tenantWindows);
  }

  private releaseLate(calls: GuardCall[], reply: ScriptReply | string): void {
    if (!Array.isArray(reply) || reply[1] !== 1) return;
    this.call(calls, 'release', [reply[3]]).catch(() => undefined);
  }

  private retryFields(def: UpstreamDefinition, reply: ScriptReply, now: number) {
    const [, , , , , bind, retryAt] = reply;
    const [g, i] = bind.split(':').map(Number);
    const windows = g === 2 ? def.tenantWindows : def.windows;
    const window = windows[(i ?? 1) - 1];
    const at = Number(retryAt);
    return window === undefined ? {} : { window: window.label, retryAt: at, retryInMs: at - now };
  }

  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    return this.deadlines.within(promise);
  }

  private isDown(): boolean {
    return this.downUntil !== 0 && Date.now() < this.downUntil;
  }

  private down(error: unknown): void {
    this.failures++;
    this.downUntil = Date.now() + this.retryMs;
    if (this.unavailable) return;
    this.unavailable = true;
    const why = error instanceof Error ? error.message : String(error);
    this.logger.error(
      `quota-guard [redis]: Redis is unavailable (${escapeForLog(why, 200)}); this process's guards answer, and writes wait to be sent`,
    );
  }

  private up(): void {
    this.downUntil = 0;
    if (!this.unavailable) return;
    this.unavailable = false;
    this.local.recovered();
    this.logger.warn('quota-guard [redis]: Redis is back; shared guards answer again');
    void this.queue.flush();
  }

  private definition(target: GuardTarget): UpstreamDefinition {
    const def = this.upstreams.get(target.upstream);
    if (def === undefined) {
      throw notDefined(target.upstream);
    }
    return def;
  }
}

const DISABLED: Decision = Object.freeze({
  route: 'primary',
  probe: false,
  reason: 'disabled',
  state: 'within_quota',
  epoch: 0,
});

function windowIndex(call: GuardCall, wanted: string | number): number {
  const index = call.windows.findIndex((w) =>
    typeof wanted === 'number' ? w.windowMs === wanted : w.label === wanted,
  );
  if (index < 0) {
    throw new RangeError(
      `quota-guard: no window ${String(wanted)} (windows: ${call.windows.map((w) => w.label).join(', ')})`,
    );
  }
  return index;
}

/**
 * A baseline as `at, tokens` pairs, one per slot (so a long log makes a short call). A number
 * goes to the window's middle (`-window/2`: the script adds its own now). Unusable entries are
 * skipped and logged; undefined when nothing is usable.
 */
function baselinePairs(
  baseline: Baseline,
  windowMs: number,
  resolutionMs: number,
  def: UpstreamDefinition,
  target: GuardTarget,
): string[] | undefined {
  const ignored = (what: string) => {
    def.ignored.baseline++;
    def.logger.warn(`${def.prefix(target.key)}: loadBaseline() ignored ${what}`);
  };
  if (typeof baseline === 'number') {
    if (!isTokenCount(baseline)) {
      ignored(`${describeValue(baseline)}: tokens must be a non-negative safe integer`);
      return undefined;
    }
    return baseline === 0 ? undefined : [String(-windowMs / 2), String(baseline)];
  }
  if (!Array.isArray(baseline)) {
    ignored(`${typeof baseline}: want a number or [{ at, tokens }]`);
    return undefined;
  }
  const slots = new Map<number, number>();
  for (const entry of baseline as readonly unknown[]) {
    const { at, tokens } = (entry ?? {}) as { at?: unknown; tokens?: unknown };
    if (typeof at !== 'number' || !Number.isFinite(at) || at <= 0 || !isTokenCount(tokens)) {
      ignored(
        `an entry ${describeValue(entry)}: want { at, tokens } with tokens a non-negative safe integer`,
      );
      continue;
    }
    if (tokens === 0) continue;
    // Entries of one slot share its end, so they can be summed here: one pair per slot.
    const slot = Math.floor(at / resolutionMs) * resolutionMs;
    slots.set(slot, (slots.get(slot) ?? 0) + tokens);
  }
  if (slots.size === 0) return undefined;
  return [...slots].flatMap(([at, tokens]) => [String(at), String(tokens)]);
}

/** Labels of the windows a decision's `seen` shows exceeded (flag 1 or 2), for probe events. */
function exceededWindows(seen: string, calls: readonly GuardCall[]): string[] {
  const flags = seen.split(',').map((part) => part.split(':')[1]);
  const labels: string[] = [];
  let index = 0;
  for (const call of calls) {
    for (const w of call.windows) {
      if (flags[index++] !== '0' && !labels.includes(w.label)) labels.push(w.label);
    }
  }
  return labels;
}
