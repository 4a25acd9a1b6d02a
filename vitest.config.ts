import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests share one moto_server and bind their own ports; files run in parallel in forks.
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    env: { POWERTOOLS_METRICS_DISABLED: 'true', AWS_REGION: 'eu-west-1' },
  },
});
