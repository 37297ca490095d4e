/**
 * A Redis server of a test's own (not the shared one on 6379): a free loopback port, a temporary
 * folder, the append-only file on and fsynced on every write, so data survives a restart.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

async function listenable(port: number): Promise<number | undefined> {
  const server = createServer();
  try {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    return typeof address === 'object' && address ? address.port : undefined;
  } catch {
    return undefined;
  } finally {
    server.close();
  }
}

/**
 * A free loopback port. With `bus`, also free 10,000 above it (a Cluster node's bus port), so it
 * is picked below 55,536 rather than from the ephemeral range.
 */
export async function freePort(bus = false): Promise<number> {
  if (!bus) return (await listenable(0))!;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await listenable(port)) && (await listenable(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

export class OwnRedis {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'qg-redis-'));

  constructor(
    readonly port: number,
    private readonly extra: string[] = [],
  ) {}

  static async start(extra: string[] = []): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(extra.includes('--cluster-enabled')), extra);
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--loglevel',
        'warning',
        ...this.extra,
      ],
      { stdio: 'ignore' },
    );
    await this.waitReady();
  }

  /** Stops the server as a crash would (SIGKILL): only what the append-only file holds survives. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  admin(): Redis {
    const client = new Redis({
      port: this.port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    client.on('error', () => {});
    return client;
  }

  private async waitReady(): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const probe = this.admin();
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    throw new Error(`redis-server on ${this.port} did not start`);
  }
}
