import { defineConfig } from 'tsup';

// One entry per public subpath; adapters and stores join this list as they land.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    express: 'src/adapters/express.ts',
    koa: 'src/adapters/koa.ts',
    prometheus: 'src/prometheus.ts',
    redis: 'src/redis.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: true,
});
