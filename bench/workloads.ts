// The benchmark's workloads: one table, each entry run against the service configurations it names.
// To add one, append an entry; run.ts prints and records every entry it runs.
import type Docker from 'dockerode';
import type { ServiceProcess } from './service-process.js';
import { executeCode, HELLO_PYTHON, PANDAS_PYTHON, waitForQuietService } from './operations.js';
import { BENCH_PACKAGES } from './package-index.js';
import { measure } from './stats.js';

/** Service configurations the benchmark starts (see CONFIGURATIONS in run.ts). */
export type ConfigurationName = 'default' | 'tuned' | 'preload' | 'packages';

export interface WorkloadContext {
  service: ServiceProcess;
  docker: Docker;
  quick: boolean;
}

/** What one workload measured: each call's latency, how many found a warm sandbox, wall time. */
export interface Measurement {
  samples: number[];
  warm: number;
  wallMs: number;
}

export interface Workload {
  /** Stable id: results and targets refer to it. */
  key: string;
  name: string;
  configurations: ConfigurationName[];
  /** Diagnostic entries that only the full run includes. */
  fullRunOnly?: boolean;
  /**
   * Runs first, right after the service started (the others wait for a settled service): what the
   * first callers after a start or a deploy get while the pools are still filling.
   */
  justStarted?: boolean;
  run(context: WorkloadContext): Promise<Measurement>;
}

/** Time between two calls of a single client, as an interactive agent would leave. */
const THINK_TIME_MS = 500;
const BURST_PAUSE_MS = 1500;

export const WORKLOADS: Workload[] = [
  {
    key: 'just-started',
    name: 'hello-world, service just started (c=1, back to back)',
    configurations: ['default'],
    justStarted: true,
    run: (context) => justStarted(context, HELLO_PYTHON, 8),
  },
  {
    key: 'c1-back-to-back',
    name: 'hello-world, one client (c=1, back to back)',
    configurations: ['default', 'tuned'],
    run: (context) => bursts(context, HELLO_PYTHON, 1, context.quick ? 16 : 40, 0),
  },
  {
    key: 'c1',
    name: 'hello-world, one client (c=1, 0.5 s apart)',
    configurations: ['default', 'tuned'],
    run: (context) => bursts(context, HELLO_PYTHON, 1, context.quick ? 12 : 40, THINK_TIME_MS),
  },
  {
    key: 'burst4',
    name: 'hello-world, bursts of 4 (1.5 s pauses)',
    configurations: ['default', 'tuned'],
    run: (context) => bursts(context, HELLO_PYTHON, 4, context.quick ? 8 : 25, BURST_PAUSE_MS),
  },
  {
    // Diagnostic: what a burst costs by itself, with refills and removals of the previous one done.
    key: 'burst4-quiet',
    name: 'hello-world, bursts of 4 (each on a settled pool)',
    configurations: ['default'],
    fullRunOnly: true,
    run: (context) => bursts(context, HELLO_PYTHON, 4, 8, 0, true),
  },
  {
    key: 'burst8',
    name: 'hello-world, bursts of 8 (1.5 s pauses)',
    configurations: ['default', 'tuned'],
    run: (context) => bursts(context, HELLO_PYTHON, 8, context.quick ? 4 : 12, BURST_PAUSE_MS),
  },
  {
    key: 'sustained',
    name: 'hello-world, sustained (c=4, back to back)',
    configurations: ['default', 'tuned'],
    run: (context) => sustained(context, HELLO_PYTHON, context.quick ? 24 : 80, 4),
  },
  {
    key: 'pandas-cold',
    name: 'import pandas, not preloaded (c=1)',
    configurations: ['tuned'],
    run: (context) => bursts(context, PANDAS_PYTHON, 1, context.quick ? 2 : 4, THINK_TIME_MS),
  },
  {
    // Each call installs a package no earlier call installed: the index serves page and wheel.
    key: 'package-first',
    name: 'install a small wheel, first time (c=1)',
    configurations: ['packages'],
    run: (context) =>
      installs(
        context,
        BENCH_PACKAGES.map((name) => [name]),
      ),
  },
  {
    key: 'package-cached',
    name: 'install a small wheel, cached (c=1)',
    configurations: ['packages'],
    run: (context) =>
      installs(
        context,
        Array.from({ length: context.quick ? 4 : 12 }, () => [BENCH_PACKAGES[0]!]),
      ),
  },
  {
    key: 'package-none',
    name: 'hello-world beside them, no packages (c=1)',
    configurations: ['packages'],
    run: (context) => bursts(context, HELLO_PYTHON, 1, context.quick ? 4 : 12, THINK_TIME_MS),
  },
  {
    key: 'pandas-preloaded',
    name: 'import pandas, preloaded (c=1)',
    configurations: ['preload'],
    run: (context) => bursts(context, PANDAS_PYTHON, 1, context.quick ? 4 : 12, THINK_TIME_MS),
  },
];

/** One call per entry, each installing that entry's packages and importing them (c=1, think time between). */
async function installs(context: WorkloadContext, calls: string[][]): Promise<Measurement> {
  const { docker, service } = context;
  await waitForQuietService(docker, service.httpPort, service.instanceId);
  const result: Measurement = { samples: [], warm: 0, wallMs: 0 };
  for (const [index, packages] of calls.entries()) {
    if (index > 0) await sleep(THINK_TIME_MS);
    const code = packages.map((name) => `import ${name}`).join('\n');
    const { samples, wallMs } = await measure(1, 1, async () => {
      const { warm } = await executeCode(service.client, code, { packages: { python: packages } });
      if (warm) result.warm += 1;
    });
    result.samples.push(...samples);
    result.wallMs += wallMs;
  }
  return result;
}

async function call(context: WorkloadContext, code: string, result: Measurement): Promise<void> {
  const { warm } = await executeCode(context.service.client, code);
  if (warm) result.warm += 1;
}

/**
 * `count` bursts of `size` concurrent calls; each burst starts `pauseMs` after the previous one ended
 * (or, `settled`, once the pool is full again and every used sandbox removed). One client calling
 * with think time between calls is bursts of 1.
 */
async function bursts(
  context: WorkloadContext,
  code: string,
  size: number,
  count: number,
  pauseMs: number,
  settled = false,
): Promise<Measurement> {
  const { docker, service } = context;
  await waitForQuietService(docker, service.httpPort, service.instanceId);
  const result: Measurement = { samples: [], warm: 0, wallMs: 0 };
  for (let i = 0; i < count; i++) {
    if (i > 0) await sleep(pauseMs);
    if (i > 0 && settled) await waitForQuietService(docker, service.httpPort, service.instanceId);
    const { samples, wallMs } = await measure(size, size, () => call(context, code, result));
    result.samples.push(...samples);
    result.wallMs += wallMs;
  }
  return result;
}

/**
 * The first `runs` calls of one client, back to back, as soon as plain /readyz says ready (the pools
 * are still filling then: /readyz?warm=1 would still say 503). Also logs when /readyz?warm=1 turned 200.
 */
async function justStarted(context: WorkloadContext, code: string, runs: number): Promise<Measurement> {
  const url = `http://127.0.0.1:${context.service.httpPort}/readyz`;
  const began = performance.now();
  while ((await fetch(url)).status !== 200) await sleep(50);
  const readyMs = performance.now() - began;
  const warmAtStart = ((await (await fetch(url)).json()) as { warm?: boolean }).warm;
  const result: Measurement = { samples: [], warm: 0, wallMs: 0 };
  const watchWarm = (async () => {
    while ((await fetch(`${url}?warm=1`)).status !== 200) await sleep(50);
    return performance.now() - began;
  })();
  const { samples, wallMs } = await measure(runs, 1, () => call(context, code, result));
  console.log(
    `  (just started: /readyz 200 after ${readyMs.toFixed(0)} ms with "warm": ${warmAtStart}; /readyz?warm=1 200 after ${(await watchWarm).toFixed(0)} ms)`,
  );
  return { ...result, samples, wallMs };
}

/** `runs` calls, `concurrency` always in flight: throughput with refills and removals included. */
async function sustained(
  context: WorkloadContext,
  code: string,
  runs: number,
  concurrency: number,
): Promise<Measurement> {
  await waitForQuietService(context.docker, context.service.httpPort, context.service.instanceId);
  const result: Measurement = { samples: [], warm: 0, wallMs: 0 };
  const { samples, wallMs } = await measure(runs, concurrency, () => call(context, code, result));
  return { ...result, samples, wallMs };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
