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
  prepared(numKeys: number, keysAndArgs: string[]): Promise<unknown>;
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
    return { run, prepared: (n, all) => run(all.slice(0, n), all.slice(n)) };
  }
  if (c !== null && typeof c === 'object' && typeof c.evalsha === 'function') {
    const io = c as IoRedisLike;
    const prepared = (n: number, all: string[]): Promise<unknown> =>
      io.evalsha(SCRIPT_SHA, n, ...all).catch((error: unknown) => {
        if (!isNoScript(error)) throw error;
        return io.eval(SCRIPT, n, ...all);
      });
    return { run: (keys, args) => prepared(keys.length, [...keys, ...args]), prepared };
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
