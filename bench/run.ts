// Benchmark harness (not a test). Starts the real service (dist/, as a child process) in each of a few
// configurations and runs the workload table (workloads.ts) against it over gRPC, with, in the same
// run on the same machine, two baselines: a plain `docker run --runtime=runsc`, and raw runsc churn
// (create/start/wait/remove through the Docker API). Reports p50/p95/p99/max, throughput, pool hit
// rate and service RSS, checks the targets (targets.ts), prints it all and writes
// bench-results/latest.json.
// Hold the Docker lock while it runs:   flock /tmp/docker-heavy.lock npm run bench -- [--quick] [--only NAME]
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import Docker from 'dockerode';
import { loadConfig } from '../src/config/config.js';
import {
  claimCounts,
  dockerRun,
  HELLO_PYTHON,
  idleSandboxMemoryMb,
  rawChurn,
  waitForQuietService,
} from './operations.js';
import { engineChurnRows } from './engine-churn.js';
import { startBenchPackageIndex } from './package-index.js';
import { startServiceProcess } from './service-process.js';
import { measure, summarize } from './stats.js';
import { evaluateTargets, type Figures, type Row, type TargetResult } from './targets.js';
import { WORKLOADS, type ConfigurationName } from './workloads.js';

const QUICK = process.argv.includes('--quick');
/** `--only NAME`: that service configuration alone, without the baselines (e.g. `--only packages`). */
const onlyIndex = process.argv.indexOf('--only');
const ONLY = onlyIndex >= 0 ? (process.argv[onlyIndex + 1] as ConfigurationName) : undefined;
const BASELINE_RUNS = QUICK ? { dockerRun: 5, churn: 12 } : { dockerRun: 12, churn: 30 };

/** Environment of each service configuration; `default` sets nothing, so it is what operators get. */
const CONFIGURATIONS: Record<ConfigurationName, Record<string, string>> = {
  default: {},
  tuned: { SANDBOX_POOL_SIZE: '8', SANDBOX_POOL_MAX: '12', SANDBOX_CONCURRENCY: '4' },
  preload: { SANDBOX_POOL_SIZE: '4', SANDBOX_POOL_MAX: '4', SANDBOX_PRELOAD_PYTHON: 'pandas' },
  // Filled in by main once the loopback package index runs (bench/package-index.ts).
  packages: {},
};

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const images = loadConfig({}).images;

async function baseline(
  key: string,
  name: string,
  runs: number,
  concurrency: number,
  task: () => Promise<void>,
): Promise<Row> {
  await task(); // warm-up: page cache, image layers
  const { samples, wallMs } = await measure(runs, concurrency, task);
  return {
    configuration: 'baseline',
    key,
    name,
    latency: summarize(samples),
    throughputPerSec: (runs * 1000) / wallMs,
  };
}

interface ConfigurationRun {
  rows: Row[];
  peakRssMb: number;
  idleSandboxMb?: { python: number; nodejs: number };
}

async function runConfiguration(name: ConfigurationName): Promise<ConfigurationRun> {
  const env = CONFIGURATIONS[name];
  const resolved = loadConfig(env);
  console.log(
    `${name}: ${JSON.stringify(env)} → pool ${resolved.poolMin}..${resolved.poolMax} per language, concurrency ${resolved.concurrency}`,
  );
  const began = performance.now();
  const service = await startServiceProcess(env);
  let peakRssMb = 0;
  const sampleRss = () => {
    try {
      peakRssMb = Math.max(peakRssMb, service.rssMb());
    } catch {
      // exited
    }
  };
  const rssTimer = setInterval(sampleRss, 250);
  const rows: Row[] = [];
  try {
    // Those measuring the moments after the start first, before anything else let the pools fill.
    const selected = WORKLOADS.filter(
      (entry) => entry.configurations.includes(name) && !(QUICK && entry.fullRunOnly),
    ).sort((a, b) => Number(b.justStarted ?? false) - Number(a.justStarted ?? false));
    for (const workload of selected) {
      const began = performance.now();
      const claimsBefore = await claimCounts(service.httpPort);
      const result = await workload.run({ service, docker, quick: QUICK });
      const claimsAfter = await claimCounts(service.httpPort);
      const row: Row = {
        configuration: name,
        key: workload.key,
        name: workload.name,
        latency: summarize(result.samples),
        throughputPerSec: (result.samples.length * 1000) / result.wallMs,
        hitRate: result.warm / result.samples.length,
        readyRate: (claimsAfter.ready - claimsBefore.ready) / result.samples.length,
      };
      rows.push(row);
      console.log(`  ${formatRow(row)}  (${((performance.now() - began) / 1000).toFixed(0)} s)`);
    }
    let idleSandboxMb: ConfigurationRun['idleSandboxMb'];
    if (name === 'tuned') {
      await waitForQuietService(docker, service.httpPort, service.instanceId);
      idleSandboxMb = {
        python: await idleSandboxMemoryMb(docker, service.instanceId, images.python),
        nodejs: await idleSandboxMemoryMb(docker, service.instanceId, images.nodejs),
      };
    }
    sampleRss();
    return { rows, peakRssMb, idleSandboxMb };
  } finally {
    clearInterval(rssTimer);
    await service.stop();
    console.log(`  (${name}: ${((performance.now() - began) / 1000).toFixed(0)} s with start and stop)`);
  }
}

const HEADER = [
  'configuration',
  'workload',
  'n',
  'p50 ms',
  'p95 ms',
  'p99 ms',
  'max ms',
  'per s',
  'warm',
  'ready',
];
const WIDTHS = [13, 44, 4, 8, 8, 8, 8, 7, 6, 6];

function formatCells(cells: string[]): string {
  return cells
    .map((cell, index) => (index < 2 ? cell.padEnd(WIDTHS[index]!) : cell.padStart(WIDTHS[index]!)))
    .join(' ');
}

function formatRow(row: Row): string {
  const { latency } = row;
  return formatCells([
    row.configuration,
    row.name.slice(0, WIDTHS[1]),
    String(latency.count),
    ...[latency.p50, latency.p95, latency.p99, latency.max].map((value) => value.toFixed(1)),
    row.throughputPerSec.toFixed(2),
    ...[row.hitRate, row.readyRate].map((rate) => (rate === undefined ? '' : `${Math.round(rate * 100)}%`)),
  ]);
}

function printTargets(targets: TargetResult[]): void {
  console.log(`\n${'target'.padEnd(50)} ${'limit'.padStart(12)} ${'measured'.padStart(10)}  result`);
  for (const target of targets) {
    console.log(
      `${target.label.padEnd(50)} ${`${target.op} ${target.limit} ${target.unit}`.padStart(12)} ${`${target.measured} ${target.unit}`.padStart(10)}  ${target.pass ? 'pass' : 'FAIL'}`,
    );
  }
}

async function main(): Promise<void> {
  const host = { cores: availableParallelism(), memoryMiB: Math.round(totalmem() / 1024 / 1024) };
  const loadBefore = loadavg();
  console.log(
    `code-sandbox benchmark${QUICK ? ' (quick)' : ''}: ${images.python}, runsc, ${host.cores} cores, ${host.memoryMiB} MiB; load average ${loadBefore.map((v) => v.toFixed(2)).join(' ')}\n`,
  );
  // Baselines first, on a quiet machine (no pool filling in the background).
  const baselines = ONLY
    ? []
    : [
        await baseline('docker-run', 'docker run --runtime=runsc (c=1)', BASELINE_RUNS.dockerRun, 1, () =>
          dockerRun(images.python, HELLO_PYTHON),
        ),
        await baseline('churn', 'raw runsc churn: create/start/wait/rm (c=4)', BASELINE_RUNS.churn, 4, () =>
          rawChurn(docker, images.python, HELLO_PYTHON),
        ),
        // The two sandbox engines (SANDBOX_BACKEND) with the service's own spec, one after the other.
        ...(await engineChurnRows(BASELINE_RUNS.churn)),
      ];
  for (const row of baselines) console.log(`  ${formatRow(row)}`);

  const packageIndex = await startBenchPackageIndex();
  Object.assign(CONFIGURATIONS.packages, packageIndex.env);
  const runs: Partial<Record<ConfigurationName, ConfigurationRun>> = {};
  for (const name of Object.keys(CONFIGURATIONS) as ConfigurationName[])
    if (!ONLY || name === ONLY) runs[name] = await runConfiguration(name);

  packageIndex.stop();
  const rows = [...Object.values(runs).flatMap((run) => run.rows), ...baselines];
  const figures: Figures = {
    rows,
    serviceRssMb: Object.fromEntries(Object.entries(runs).map(([name, run]) => [name, run.peakRssMb])),
  };
  const targets = evaluateTargets(figures);
  console.log(`\n${formatCells(HEADER)}`);
  for (const row of rows) console.log(formatRow(row));
  printTargets(targets);

  const find = (configuration: Row['configuration'], key: string) =>
    rows.find((row) => row.configuration === configuration && row.key === key);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : Math.round((a / b) * 100) / 100;
  const ratios = {
    oneClientP50SpeedupVsDockerRun: ratio(
      find('baseline', 'docker-run')?.latency.p50,
      find('default', 'c1')?.latency.p50,
    ),
    backToBackP50SpeedupVsDockerRun: ratio(
      find('baseline', 'docker-run')?.latency.p50,
      find('default', 'c1-back-to-back')?.latency.p50,
    ),
    sustainedVsRawChurnDefault: ratio(
      find('default', 'sustained')?.throughputPerSec,
      find('baseline', 'churn')?.throughputPerSec,
    ),
    sustainedVsRawChurnTuned: ratio(
      find('tuned', 'sustained')?.throughputPerSec,
      find('baseline', 'churn')?.throughputPerSec,
    ),
    pandasPreloadSpeedupP50: ratio(
      find('tuned', 'pandas-cold')?.latency.p50,
      find('preload', 'pandas-preloaded')?.latency.p50,
    ),
  };
  const packages = {
    firstInstallP50Ms: find('packages', 'package-first')?.latency.p50,
    cachedInstallP50Ms: find('packages', 'package-cached')?.latency.p50,
    helloWorldP50Ms: find('packages', 'package-none')?.latency.p50,
  };
  console.log(
    `packages (p50): first install ${packages.firstInstallP50Ms?.toFixed(0)} ms, cached install ${packages.cachedInstallP50Ms?.toFixed(0)} ms, hello-world ${packages.helloWorldP50Ms?.toFixed(0)} ms`,
  );
  const memory = { serviceRssPeakMb: figures.serviceRssMb, idlePooledSandboxMb: runs.tuned?.idleSandboxMb };
  const loadAfter = loadavg();
  console.log(
    `\nratios: one client p50 ${ratios.oneClientP50SpeedupVsDockerRun}x (back to back ${ratios.backToBackP50SpeedupVsDockerRun}x) faster than docker run; sustained throughput ${ratios.sustainedVsRawChurnDefault}x (default) / ${ratios.sustainedVsRawChurnTuned}x (tuned) raw churn; pandas preload ${ratios.pandasPreloadSpeedupP50}x faster`,
  );
  console.log(
    `memory: service RSS peak ${JSON.stringify(memory.serviceRssPeakMb)} MiB; idle pooled sandbox ${JSON.stringify(memory.idlePooledSandboxMb)} MiB`,
  );
  console.log(`load average after: ${loadAfter.map((v) => v.toFixed(2)).join(' ')}`);
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    'bench-results/latest.json',
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        quick: QUICK,
        host,
        loadAverage: { before: loadBefore, after: loadAfter },
        images,
        configurations: CONFIGURATIONS,
        rows,
        targets,
        ratios,
        packages,
        memory,
      },
      null,
      2,
    )}\n`,
  );
  console.log('written: bench-results/latest.json');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
