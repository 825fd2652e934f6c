import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Removes the temporary folders a test file made (test/support/temp.ts) once its tests are done.
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real brokers, stations and browsers: two cores, so keep files from starving each other.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
