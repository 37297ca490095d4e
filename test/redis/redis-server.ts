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

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

export class OwnRedis {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'qg-redis-'));

  constructor(
    readonly port: number,
    private readonly extra: string[] = [],
  ) {}

  static async start(extra: string[] = []): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), extra);
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
