import { randomBytes } from 'node:crypto';
import type { WindowSelector } from '../../core/base-guard.js';
import { type Baseline, isTokenCount, isUsableDelay } from '../../core/baseline.js';
import type { Clock } from '../../core/clock.js';
import type { Decision } from '../../core/decision.js';
import { describeValue } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { UpstreamInfo } from '../../core/upstream-guard.js';
import { resolveCapScope } from '../cap-scope.js';
import type { GuardTarget, QuotaStore, StoreDefinition } from '../store.js';
import { alreadyDefined, notDefined } from '../store-errors.js';
import { Availability } from './availability.js';
import { queuesOffline } from './client.js';
import { Deadlines, settle } from './deadlines.js';
import { DISABLED, fullDecision, type ScriptReply, withinDecision } from './decision-reply.js';
import { type GuardCall, UpstreamDefinition } from './definition.js';
import { decodeInfo } from './info.js';
import { UpstreamKeys } from './keys.js';
import { LocalGuards } from './local-guards.js';
import {
  type RedisStoreOptions,
  type RedisStoreStats,
  resolveRedisStoreOptions,
} from './redis-store-options.js';
import { baselinePairs, exceededWindows, windowIndex } from './script-arguments.js';
import { ScriptCalls } from './script-calls.js';
import { WriteQueue } from './write-queue.js';

export type { RedisStoreOptions, RedisStoreStats } from './redis-store-options.js';

const TIMED_OUT = new Error('quota-guard: Redis did not answer in time');
const NOTHING = (): void => {};

/** What a decision carries that a later outcome needs: per guard epoch, and when its probe was granted. */
interface DecisionMeta {
  epochs: string[];
  probeAt: string;
}

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
  private readonly script: ScriptCalls;
  private readonly prefix: string;
  private readonly logger: Logger;
  private readonly clock: Clock | undefined;
  private readonly upstreams = new Map<string, UpstreamDefinition>();
  private readonly local: LocalGuards;
  private readonly queue: WriteQueue;
  private readonly meta = new WeakMap<Decision, DecisionMeta>();
  private readonly deadlines: Deadlines;
  /** Who this process is, for record sequence numbers and baseline markers. */
  private readonly instance = randomBytes(8).toString('hex');
  private readonly availability: Availability;
  private readonly tenantsSeen = new Set<string>();

  constructor(options: RedisStoreOptions) {
    const resolved = resolveRedisStoreOptions(options);
    this.prefix = resolved.prefix;
    this.logger = resolved.logger;
    this.clock = resolved.clock;
    this.script = new ScriptCalls(options.client, this.clock);
    const { maxKeys, maxQueued } = resolved;
    this.local = new LocalGuards(maxKeys);
    this.deadlines = new Deadlines(resolved.timeoutMs, TIMED_OUT);
    this.availability = new Availability(resolved.retryMs, this.logger, () => {
      this.local.recovered();
      void this.queue.flush();
    });
    this.queue = new WriteQueue(
      maxQueued,
      resolved.retryMs,
      (p) => this.withTimeout(p),
      this.logger,
      (ok, error) => (ok ? this.availability.up() : this.availability.down(error)),
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
    if (this.availability.isDown()) return Promise.resolve(this.localDecision(def, target));
    const calls = def.both(target);
    if (target.key !== undefined) this.tenantsSeen.add(`${target.upstream}\u0000${target.key}`);
    // A decision asked while another of the same target is on its way, with no write of this
    // process sent in between, takes that one's answer if it says "within quota" (any answer
    // would be the same value). Anything else (a probe granted to the caller that asked, a
    // refusal with its retry time) is asked again for this caller: one probe stays one probe.
    const joined = def.flights.joinable(target.key, this.script.writes);
    let own: Promise<unknown> | undefined;
    let landed = NOTHING;
    if (joined === undefined) {
      own = this.script.call(calls, 'decide', []);
      landed = def.flights.start(target.key, own, this.script.writes);
    }
    const sent = joined ?? own!;
    // One promise for the caller, settled by the reply or by the deadline, whichever comes first.
    return new Promise<Decision>((resolve) => {
      const deadline = this.deadlines.start(() => {
        this.availability.down(TIMED_OUT);
        // A probe Redis granted after all, to a decision nobody waits for: given back.
        own?.then(
          (late) => this.releaseLate(calls, late as ScriptReply),
          () => undefined,
        );
        resolve(this.localDecision(def, target));
      });
      const failed = (error: unknown) => {
        landed();
        if (!settle(deadline)) return;
        this.availability.down(error);
        resolve(this.localDecision(def, target));
      };
      const answered = (reply: unknown) => {
        landed();
        if (deadline.done) return;
        if (own === undefined && typeof reply !== 'string') {
          own = this.script.call(calls, 'decide', []);
          own.then(answered, failed);
          return;
        }
        settle(deadline);
        resolve(this.decided(def, target, calls, reply as ScriptReply | string));
      };
      sent.then(answered, failed);
    });
  }

  private decided(
    def: UpstreamDefinition,
    target: GuardTarget,
    calls: GuardCall[],
    reply: ScriptReply | string,
  ): Decision {
    this.availability.up();
    if (typeof reply === 'string') {
      const bar = reply.indexOf('|');
      this.local.saw(target, reply.slice(bar + 1));
      return withinDecision(def, target.key, reply.slice(1, bar));
    }
    const [, probe, , now, epochs, , , seen, changes] = reply;
    const at = Number(now);
    this.local.saw(target, seen);
    def.changed(calls, changes, at);
    const decision = fullDecision(def, reply);
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
    const at = this.clock === undefined ? Date.now() + this.offset : this.clock.now();
    return def.lanes.add(target.key, tokens, at, (sum, latest) => this.sendRecord(def, target, sum, latest));
  }

  /** One write of a target's usage (one record, or several summed by its lane), numbered when sent. */
  private sendRecord(
    def: UpstreamDefinition,
    target: GuardTarget,
    tokens: number,
    at: number,
  ): Promise<void> {
    const calls = def.both(target);
    const seq = String(++def.seq);
    const marker = def.keys.marker(this.instance);
    const args = [seq, String(at), String(tokens), def.markerTtl];
    for (const call of calls) args.push(...call.slots);
    const send = () => this.script.call(calls, 'record', args, marker);
    return this.write(def, target, send, tokens, () =>
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
      () => this.script.call(calls, 'success', epochs),
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
      () => this.script.call([call], 'cap', args),
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
      () => this.script.call(def.both(target), 'release', [meta.probeAt]),
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
      await this.withTimeout(
        this.script.call([call], 'baseline', [String(index), this.instance, ...pairs], marker),
      );
    }
  }

  async reset(target: GuardTarget): Promise<void> {
    const def = this.definition(target);
    const call = def.one(target);
    const reply = (await this.withTimeout(this.script.call([call], 'reset', []))) as [number, string, string];
    def.changed([call], reply[2], Number(reply[1]));
  }

  async resume(target: GuardTarget): Promise<void> {
    const def = this.definition(target);
    const call = def.one(target);
    const reply = (await this.withTimeout(this.script.call([call], 'resume', []))) as [
      number,
      string,
      string,
    ];
    def.changed([call], reply[2], Number(reply[1]));
  }

  /** The shared numbers, as every instance sees them; the local guard's while Redis is away. */
  async info(target: GuardTarget): Promise<UpstreamInfo> {
    const def = this.definition(target);
    const call = def.one(target);
    if (!this.availability.isDown()) {
      try {
        const reply = (await this.withTimeout(this.script.call([call], 'info', []))) as string[];
        return decodeInfo(def, call, reply);
      } catch (error) {
        this.availability.down(error);
      }
    }
    return this.local.memory.info(target);
  }

  stats(): RedisStoreStats {
    let pendingTokens = this.queue.tokens;
    for (const def of this.upstreams.values()) pendingTokens += def.lanes.waiting;
    return {
      upstreams: this.upstreams.size,
      keys: this.tenantsSeen.size,
      evictedKeys: 0,
      unavailable: this.availability.unavailable,
      failures: this.availability.failures,
      ...this.queue.stats(),
      pendingTokens,
    };
  }

  /**
   * Sends what waits for Redis now; resolves when it is written or Redis failed again. Records
   * summed behind a write on its way are written first.
   */
  async flush(): Promise<void> {
    for (const def of this.upstreams.values()) await def.lanes.idle();
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

  /** A write through the queue; its reply tells the server's time and any state changes. */
  private async write(
    def: UpstreamDefinition,
    target: GuardTarget,
    send: () => Promise<unknown>,
    tokens: number,
    locally: () => void,
  ): Promise<void> {
    const reply = (await this.queue.submit({ send, tokens }, this.availability.isDown(), locally)) as
      | [number, string, string]
      | undefined;
    if (Array.isArray(reply) && typeof reply[1] === 'string') {
      if (this.clock === undefined) this.offset = Number(reply[1]) - Date.now();
      if (reply[2]) def.changed(def.both(target), reply[2], Number(reply[1]));
    }
  }

  private localDecision(def: UpstreamDefinition, target: GuardTarget): Decision {
    return this.local.decide(target, def.windows, def.tenantWindows);
  }

  private releaseLate(calls: GuardCall[], reply: ScriptReply | string): void {
    if (!Array.isArray(reply) || reply[1] !== 1) return;
    this.script.call(calls, 'release', [reply[3]]).catch(() => undefined);
  }

  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    return this.deadlines.within(promise);
  }

  private definition(target: GuardTarget): UpstreamDefinition {
    const def = this.upstreams.get(target.upstream);
    if (def === undefined) {
      throw notDefined(target.upstream);
    }
    return def;
  }
}
