/**
 * A TCP proxy between a store and Redis that the test can stall (bytes held both ways, sockets
 * kept open: a Redis that stopped answering) or cut (every connection dropped and new ones
 * refused: a Redis that is gone), then let pass again.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

type Mode = 'pass' | 'stall' | 'cut';

export class FaultProxy {
  private mode: Mode = 'pass';
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private readonly server: Server;
  port = 0;

  constructor(private readonly targetPort: number) {
    this.server = createServer((client) => {
      if (this.mode === 'cut') {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, '127.0.0.1');
      const pair = { client, upstream };
      this.pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      if (this.mode === 'stall') this.pause(pair);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
  }

  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  stall(): void {
    this.mode = 'stall';
    for (const pair of this.pairs) this.pause(pair);
  }

  cut(): void {
    this.mode = 'cut';
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
  }

  pass(): void {
    this.mode = 'pass';
    for (const { client, upstream } of this.pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
    }
  }

  async close(): Promise<void> {
    this.cut();
    this.server.close();
  }

  private pause({ client, upstream }: { client: Socket; upstream: Socket }): void {
    // Unpiped, paused sockets stop reading: what the store sends waits, as on a stuck server.
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  }
}
