import { SCRIPT, SCRIPT_SHA } from './script.js';

/**
 * The part of an `ioredis` client (or `Cluster`) the store calls. Structural, so the store
 * imports nothing from ioredis: it is an optional peer dependency.
 */
export interface IoRedisLike {
  evalsha(sha: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
}

/** The part of a `node-redis` v4/v5 client (or cluster) the store calls. */
export interface NodeRedisLike {
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** A Redis client the store can use: ioredis or node-redis, single node or cluster. */
export type RedisClientLike = IoRedisLike | NodeRedisLike;

/** Runs the store's script: `EVALSHA`, and `EVAL` (which caches it again) only on `NOSCRIPT`. */
export type ScriptRunner = (keys: string[], args: string[]) => Promise<unknown>;

/** The runner, and the same for a call whose keys and arguments are one prepared array. */
export interface ScriptRunners {
  run: ScriptRunner;
  /**
   * `EVALSHA` alone, with no `NOSCRIPT` handling of its own (one promise less on the hot path):
   * the caller passes a `NOSCRIPT` error to `loaded`, which runs the call again with `EVAL`.
   */
  prepared(numKeys: number, keysAndArgs: string[]): Promise<unknown>;
  loaded(error: unknown, numKeys: number, keysAndArgs: string[]): Promise<unknown>;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** Tells the two clients apart and wraps the one given; throws for anything else. */
export function scriptRunner(client: unknown): ScriptRunners {
  const c = client as Partial<IoRedisLike & NodeRedisLike> | null;
  if (c !== null && typeof c === 'object' && typeof c.evalSha === 'function') {
    const node = c as NodeRedisLike;
    const run: ScriptRunner = async (keys, args) => {
      try {
        return await node.evalSha(SCRIPT_SHA, { keys, arguments: args });
      } catch (error) {
        if (!isNoScript(error)) throw error;
        return node.eval(SCRIPT, { keys, arguments: args });
      }
    };
    const prepared = (n: number, all: string[]) =>
      node.evalSha(SCRIPT_SHA, { keys: all.slice(0, n), arguments: all.slice(n) });
    const loaded = (error: unknown, n: number, all: string[]) =>
      isNoScript(error)
        ? node.eval(SCRIPT, { keys: all.slice(0, n), arguments: all.slice(n) })
        : Promise.reject(error);
    return { run, prepared, loaded };
  }
  if (c !== null && typeof c === 'object' && typeof c.evalsha === 'function') {
    const io = c as IoRedisLike;
    const prepared = (n: number, all: string[]): Promise<unknown> => io.evalsha(SCRIPT_SHA, n, ...all);
    const loaded = (error: unknown, n: number, all: string[]) =>
      isNoScript(error) ? io.eval(SCRIPT, n, ...all) : Promise.reject(error);
    return {
      run: (keys, args) => {
        const all = [...keys, ...args];
        return prepared(keys.length, all).catch((error: unknown) => loaded(error, keys.length, all));
      },
      prepared,
      loaded,
    };
  }
  throw new TypeError(
    'quota-guard: RedisStore needs `client`: an ioredis client or Cluster (new Redis(url)), or a node-redis client or cluster (createClient().connect())',
  );
}

/**
 * True when the client queues commands while disconnected: a decision would then wait for a
 * reconnect instead of being answered locally at once (the store's timeout still bounds it).
 */
export function queuesOffline(client: RedisClientLike): boolean {
  // Read loosely: the clients keep their settings in different places (node-redis clusters under `defaults`).
  const raw = (client as { options?: Record<string, unknown> }).options;
  const options = (raw?.defaults ?? raw) as
    | { enableOfflineQueue?: boolean; disableOfflineQueue?: boolean }
    | undefined;
  if (options === undefined) return false;
  if ('evalSha' in client) return options.disableOfflineQueue !== true;
  return options.enableOfflineQueue !== false;
}
