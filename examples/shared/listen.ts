import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on loopback (`port` 0 or undefined: any free port); resolves to the server's URL. */
export async function listenOnLoopback(server: Server, port = 0): Promise<string> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
