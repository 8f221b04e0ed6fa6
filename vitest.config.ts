import { defineConfig } from 'vitest/config';

/**
 * Test files that rebuild what other test files read: the README's `npm start` runs `npm run build` in a
 * symlinked copy of the checkout, which empties and rewrites client/dist and dist/local of this one. They run
 * alone, one after another, after every other file (vitest runs a project without file parallelism last).
 */
const alone = ['test/docs/readme-commands.test.ts'];

export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Request log lines (INFO) would drown the test output; errors still show.
    env: { POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      { extends: true, test: { name: 'files', include: ['test/**/*.test.ts'], exclude: alone } },
      { extends: true, test: { name: 'alone', include: alone, fileParallelism: false } },
    ],
  },
});
