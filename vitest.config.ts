import { defineConfig } from 'vitest/config';

/** Integration suites that also run against SANDBOX_BACKEND=containerd. */
const CONTAINERD_SUITES = [
  'grpc-execute',
  'http-execute',
  'sandbox-isolation',
  'hostile-code',
  'crash-and-faults',
  'shared-work-root',
];

export default defineConfig({
  test: {
    projects: [
      // Projects of one groupOrder run side by side, and the groups one after another: the Docker and
      // the containerd suites never start sandboxes at the same time. Every project names its group.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], sequence: { groupOrder: 0 } } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Real runsc containers on a 2-core machine: one file at a time, generous timeouts.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // The same suites on the containerd backend: execution, isolation, hostile code, the reaper
        // (crash-and-faults, shared-work-root). A group of its own, so that no two files start runsc
        // sandboxes at once. No sessions or packages there (see docs/operating.md).
        test: {
          name: 'integration-containerd',
          include: CONTAINERD_SUITES.map((suite) => `test/integration/${suite}.test.ts`),
          env: { SANDBOX_BACKEND: 'containerd', SANDBOX_MAX_SESSIONS: '0' },
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
