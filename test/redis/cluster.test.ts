/**
 * A real three-master Redis Cluster started for these tests: the store contract on ioredis's
 * Cluster and node-redis's cluster client, and many upstreams and tenants spread over the slots
 * (every key of one upstream in one slot: no CROSSSLOT).
 */
import { execFileSync } from 'node:child_process';
import { Cluster } from 'ioredis';
import { createCluster } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/redis.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { describeStoreContract } from '../stores/store-contract.js';
import { freshPrefix, PATIENT_MS, quiet } from './redis-client.js';
import { OwnRedis } from './redis-server.js';

const nodes: OwnRedis[] = [];
let io: Cluster;
let node: ReturnType<typeof createCluster>;

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await OwnRedis.start([
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--appendonly',
        'no',
      ]),
    );
  }
  execFileSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ],
    { stdio: 'ignore' },
  );
  // Wait until every node agrees the cluster is up.
  for (const n of nodes) {
    const admin = n.admin();
    await admin.connect();
    for (let attempt = 0; ; attempt++) {
      const info = (await admin.call('CLUSTER', 'INFO')) as string;
      if (info.includes('cluster_state:ok')) break;
      if (attempt > 200) throw new Error('cluster did not come up');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    admin.disconnect();
  }
  io = new Cluster(
    nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    { enableOfflineQueue: false },
  );
  io.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    io.once('ready', resolve);
    io.once('error', reject);
  });
  node = createCluster({
    rootNodes: nodes.map((n) => ({ url: `redis://127.0.0.1:${n.port}` })),
    defaults: { disableOfflineQueue: true },
  });
  node.on('error', () => {});
  await node.connect();
}, 60_000);

afterAll(async () => {
  io?.disconnect();
  await node?.close().catch(() => undefined);
  for (const n of nodes) await n.stop();
});

const clusterStore = (client: Cluster | ReturnType<typeof createCluster>, clock?: ManualClock) =>
  new RedisStore({
    client,
    prefix: freshPrefix(),
    logger: quiet,
    timeoutMs: PATIENT_MS,
    ...(clock ? { clock } : {}),
  });

describeStoreContract('RedisStore on Redis Cluster (ioredis)', (clock) => clusterStore(io, clock));
describeStoreContract('RedisStore on Redis Cluster (node-redis)', (clock) => clusterStore(node, clock));

describe('RedisStore on Redis Cluster', () => {
  it.each([
    ['ioredis', () => io],
    ['node-redis', () => node],
  ] as const)(
    'spreads upstreams over the nodes; every call of one upstream stays in one slot (%s)',
    async (_name, client) => {
      const store = clusterStore(client(), new ManualClock(Date.parse('2026-12-01T10:00:00Z')));
      const upstreams = Array.from({ length: 12 }, (_, i) => `upstream-${i}`);
      for (const upstream of upstreams) {
        store.define(upstream, {
          windows: [
            { window: '5h', budget: 100, tenantBudget: 50 },
            { window: '7d', budget: 1_000 },
          ],
          logger: quiet,
        });
      }
      for (const upstream of upstreams) {
        for (const key of [undefined, 'a', '{b}', 'c:*']) {
          const target = key === undefined ? { upstream } : { upstream, key };
          // Primary until the account's cap error below (it holds every tenant).
          expect((await store.decide(target)).route).toBe(key === undefined ? 'primary' : 'fallback');
          await store.record(target, 20);
          await store.capError(target, 1_000, { window: '7d' });
          await store.loadBaseline(target, 1);
        }
        expect((await store.info({ upstream })).windows.map((w) => w.windowUsageTokens)).toEqual([81, 81]);
      }
      expect(store.stats().failures).toBe(0);
      // The keys are spread over more than one master.
      const owners = new Set<number>();
      for (const n of nodes) {
        const admin = n.admin();
        await admin.connect();
        if (Number(await admin.dbsize()) > 0) owners.add(n.port);
        admin.disconnect();
      }
      expect(owners.size).toBeGreaterThan(1);
      store.close();
    },
  );
});
