// Installs the packed package into a fresh folder and uses it the way users do: ESM import,
// CommonJS require, and TypeScript under both module systems. Run after `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'quota-guard-dist-'));
const run = (cmd, args, cwd = work) => {
  try {
    return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
  } catch (error) {
    // Show what the tool printed (tsc reports on stdout), not a buffer dump.
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${error.stdout?.toString() ?? ''}`);
  }
};

try {
  run('npm', ['pack', '--silent', '--pack-destination', work], repo);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  // The frameworks are peer dependencies: a user brings their own.
  const peers = [
    'express@5',
    'koa@3',
    'prom-client@15',
    'ioredis@5',
    'redis@5',
    '@types/express@5',
    '@types/koa@3',
    '@types/node@20',
  ];
  run('npm', [
    'install',
    '--silent',
    '--no-audit',
    '--no-fund',
    '--prefer-offline',
    join(work, tarball),
    ...peers,
  ]);

  const script = `
    const g = new QuotaGuard({ budget: 10, window: '5h', resolution: 0, logger: silentLogger });
    g.recordUsage(10);
    const d = g.decide();
    if (d.route !== 'fallback' || d.reason !== 'budget_exhausted') throw new Error('unexpected decision ' + JSON.stringify(d));
    const s = new MemoryStore();
    s.define('u', { windows: [{ window: '1h', budget: 5 }] });
    if (s.decide({ upstream: 'u' }).route !== 'primary') throw new Error('store');
    console.log('ok');`;
  writeFileSync(
    join(work, 'esm.mjs'),
    `import { QuotaGuard, MemoryStore, silentLogger } from 'quota-guard';\n${script}`,
  );
  writeFileSync(
    join(work, 'cjs.cjs'),
    `const { QuotaGuard, MemoryStore, silentLogger } = require('quota-guard');\n${script}`,
  );
  const adapters = `
    if (typeof expressGuard({ upstream: 'a', windows: [{ window: '5h', budget: 1 }], usage: () => 0 }) !== 'function') throw new Error('express');
    if (typeof koaGuard({ upstream: 'a', windows: [{ window: '5h', budget: 1 }], usage: () => 0 }) !== 'function') throw new Error('koa');`;
  writeFileSync(
    join(work, 'adapters.mjs'),
    `import { quotaGuard as expressGuard } from 'quota-guard/express';\nimport { quotaGuard as koaGuard } from 'quota-guard/koa';\n${adapters}\nconsole.log('ok');`,
  );
  writeFileSync(
    join(work, 'adapters.cjs'),
    `const { quotaGuard: expressGuard } = require('quota-guard/express');\nconst { quotaGuard: koaGuard } = require('quota-guard/koa');\n${adapters}\nconsole.log('ok');`,
  );
  const metrics = `
    const registry = new Registry();
    const guard = expressGuard({ upstream: 'a', windows: [{ window: '5h', budget: 1 }], usage: () => 0 });
    registerQuotaMetrics(registry, [guard]);
    const text = await registry.metrics();
    if (!text.includes('quota_guard_window_budget_tokens{upstream="a",window="5h"} 1')) throw new Error(text);
    console.log('ok');`;
  writeFileSync(
    join(work, 'metrics.mjs'),
    `import { Registry } from 'prom-client';\nimport { quotaGuard as expressGuard } from 'quota-guard/express';\nimport { registerQuotaMetrics } from 'quota-guard/prometheus';\n${metrics}`,
  );
  writeFileSync(
    join(work, 'metrics.cjs'),
    `const { Registry } = require('prom-client');\nconst { quotaGuard: expressGuard } = require('quota-guard/express');\nconst { registerQuotaMetrics } = require('quota-guard/prometheus');\n(async () => {${metrics}})();`,
  );
  // The Redis store against the Redis server CI runs, with either client.
  const redis = `
    const io = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableOfflineQueue: false, lazyConnect: true });
    await io.connect();
    const node = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', disableOfflineQueue: true });
    await node.connect();
    const prefix = 'qg-dist:' + process.pid + ':';
    for (const client of [io, node]) {
      const store = new RedisStore({ client, prefix });
      store.define('u', { windows: [{ window: '1h', budget: 100 }] });
      await store.record({ upstream: 'u' }, 3);
      if ((await store.decide({ upstream: 'u' })).route !== 'primary') throw new Error('redis decide');
      store.close();
    }
    // Both stores wrote to one shared window.
    const shared = new RedisStore({ client: io, prefix });
    shared.define('u', { windows: [{ window: '1h', budget: 100 }] });
    const usage = (await shared.info({ upstream: 'u' })).windows[0].windowUsageTokens;
    if (usage !== 6) throw new Error('redis shared usage ' + usage);
    io.disconnect();
    await node.quit();
    console.log('ok');`;
  writeFileSync(
    join(work, 'redis.mjs'),
    `import { Redis } from 'ioredis';\nimport { createClient } from 'redis';\nimport { RedisStore } from 'quota-guard/redis';\n${redis}`,
  );
  writeFileSync(
    join(work, 'redis.cjs'),
    `const { Redis } = require('ioredis');\nconst { createClient } = require('redis');\nconst { RedisStore } = require('quota-guard/redis');\n(async () => {${redis}})();`,
  );
  for (const file of [
    'esm.mjs',
    'cjs.cjs',
    'adapters.mjs',
    'adapters.cjs',
    'metrics.mjs',
    'metrics.cjs',
    'redis.mjs',
    'redis.cjs',
  ]) {
    const out = run('node', [file]).trim();
    if (out !== 'ok') throw new Error(`${file} printed ${out}`);
    console.log(`dist: ${file} imports and runs`);
  }

  // Types, as an ESM and as a CommonJS TypeScript consumer would see them.
  const consumer = `import { QuotaGuard, type Decision, type QuotaGuardInfo } from 'quota-guard';
const g = new QuotaGuard({ budget: 1, window: '5h' });
const d: Decision = g.decide();
const i: QuotaGuardInfo = g.info();
const route: 'primary' | 'fallback' = d.route;
// @ts-expect-error: the options are checked
new QuotaGuard({ budget: '1' });
export { i, route };
`;
  // Importing an adapter's subpath types req.quotaRoute and ctx.state.quotaRoute: no casts.
  const adapterConsumer = `import express from 'express';
import Koa from 'koa';
import { quotaGuard } from 'quota-guard/express';
import { quotaGuard as koaQuotaGuard, type QuotaRoute } from 'quota-guard/koa';
import { RedisStore } from 'quota-guard/redis';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
const shared = new RedisStore({ client: new Redis({ lazyConnect: true, enableOfflineQueue: false }), prefix: 'qg:' });
const alsoShared = new RedisStore({ client: createClient({ disableOfflineQueue: true }) });
const app = express();
app.use(quotaGuard({ upstream: 'openai', windows: [{ window: '1d', budget: 1 }], store: shared, capScope: 'key' }));
void alsoShared;
const guard = quotaGuard({ upstream: 'anthropic', windows: [{ window: '5h', budget: 1 }], usage: (res) => res.locals.tokens as number });
app.use(guard);
app.post('/', guard.budget({ window: '1h', budget: 10 }), (req, res) => {
  const where: 'primary' | 'fallback' | undefined = req.quotaRoute?.route;
  void req.quotaRoute?.report({ tokens: 5, status: 200 });
  res.json({ where });
});
const koa = new Koa();
koa.use(koaQuotaGuard({ upstream: 'anthropic', windows: [{ window: '5h', budget: 1 }] }));
koa.use(async (ctx) => {
  const route: QuotaRoute | undefined = ctx.state.quotaRoute;
  ctx.body = route?.reason;
});
export { app, koa };
`;
  writeFileSync(join(work, 'adapters-consumer.mts'), adapterConsumer);
  writeFileSync(
    join(work, 'adapters-consumer.cts'),
    adapterConsumer
      .replace("import express from 'express';", "import express = require('express');")
      .replace("import Koa from 'koa';", "import Koa = require('koa');"),
  );
  writeFileSync(join(work, 'consumer.mts'), consumer);
  writeFileSync(join(work, 'consumer.cts'), consumer);
  const tsc = join(repo, 'node_modules/typescript/bin/tsc');
  const tscFlags = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext'];
  for (const file of ['consumer.mts', 'consumer.cts']) {
    // Our declarations checked in full (skipLibCheck off), without the frameworks' types.
    run('node', [tsc, ...tscFlags, '--skipLibCheck', 'false', '--types', 'node', file]);
    console.log(`dist: ${file} typechecks`);
  }
  for (const file of ['adapters-consumer.mts', 'adapters-consumer.cts']) {
    // @types/koa 3 fails its own check against content-disposition's current types, so library
    // checks are skipped here; the consumer's use of our types is still checked.
    run('node', [tsc, ...tscFlags, '--skipLibCheck', 'true', file]);
    console.log(`dist: ${file} typechecks`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
