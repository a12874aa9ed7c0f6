import { defineConfig } from 'vitest/config';

// Unit tests need nothing but Node; integration tests (*.int.test.ts) talk to the real
// PostgreSQL, Redis and helper servers, so they run in forks with generous timeouts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{apps,packages}/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.fault.test.ts', '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts'],
          exclude: ['**/node_modules/**'],
          pool: 'forks',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Fault injection (npm run test:faults): each test starts the instances it breaks
        // (its own PostgreSQL cluster, KMS endpoint, TSA, file system), never the shared ones.
        test: {
          name: 'faults',
          include: ['**/*.fault.test.ts'],
          exclude: ['**/node_modules/**'],
          pool: 'forks',
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
