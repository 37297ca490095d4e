import type { Clock } from '../../core/clock.js';
import { type RedisClientLike, type ScriptRunner, scriptRunner } from './client.js';
import type { GuardCall } from './definition.js';

/**
 * One call of the store's script: the keys of every guard it reads, then the operation, the time
 * (`0`: the server's own), the guard count, each guard's window lines and configs, and the
 * operation's own arguments; an extra key (a marker) last.
 */
export class ScriptCalls {
  /** Writes sent so far: a decision sent before a write may not answer a caller who came after it. */
  writes = 0;
  private readonly run: ScriptRunner;
  private readonly prepared: (numKeys: number, keysAndArgs: string[]) => Promise<unknown>;
  private readonly loaded: (error: unknown, numKeys: number, keysAndArgs: string[]) => Promise<unknown>;

  constructor(
    client: RedisClientLike,
    private readonly clock: Clock | undefined,
  ) {
    ({ run: this.run, prepared: this.prepared, loaded: this.loaded } = scriptRunner(client));
  }

  call(calls: readonly GuardCall[], op: string, extra: string[], extraKey?: string): Promise<unknown> {
    if (op !== 'decide' && op !== 'info') this.writes++;
    if (op === 'decide' && calls.length === 1 && this.clock === undefined) {
      // The upstream's own decision: the same arguments every time, built once.
      const call = calls[0]!;
      call.decide ??= [...call.keys, 'decide', '0', '1', ...call.lines, call.config];
      const all = call.decide;
      const n = call.keys.length;
      return this.prepared(n, all).catch((error: unknown) => this.loaded(error, n, all));
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
}
