import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property tests run thousands of seeded sequences; give them room on a loaded CI machine.
    testTimeout: 60_000,
  },
});
