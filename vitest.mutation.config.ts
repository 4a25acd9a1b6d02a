import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// The tests that exercise lambdas/store and lambdas/pipeline, and nothing else: what a mutation run (npm run mutation,
// stryker.config.json) executes per mutant. Same peers (moto through the global setup), same environment. (Not
// mergeConfig: it would append to the base's include list instead of replacing it.)
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      'test/store/**/*.test.ts',
      'test/pipeline/**/*.test.ts',
      'test/reliability/matrix-secrets-manager.test.ts',
      'test/cli/no-targets.test.ts',
    ],
  },
});
