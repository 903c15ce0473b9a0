// Benchmark harness (not a test). Starts the real service (dist/, as a child process) and measures,
// in one run, against baselines measured in the same run on the same machine:
//   - hello-world ExecuteCode latency over gRPC at concurrency 1 and 4, on warm sandboxes;
//   - sustained throughput over a fixed number of executions (pool refills included);
//   - `import pandas` latency with and without preloading;
//   - baselines: plain `docker run --runtime=runsc`, and raw runsc churn (create/start/wait/remove);
//   - service RSS with a pool of 8, memory of an idle pooled sandbox.
// Prints a table and writes bench-results/latest.json.   npm run bench -- [--quick]
import { mkdirSync, writeFileSync } from 'node:fs';
import Docker from 'dockerode';
import { loadConfig } from '../src/config/config.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { measure, summarize, type LatencySummary } from './stats.js';
import {
  dockerRun,
  executeCode,
  HELLO_PYTHON,
  idleSandboxMemoryMb,
  rawChurn,
  waitForQuietService,
  type ExecutionSample,
} from './workloads.js';

const QUICK = process.argv.includes('--quick');
const POOL_SIZE = 8;
const PANDAS = 'import pandas\nprint(pandas.__version__)';
const RUNS = QUICK
  ? { warm: 16, throughput: 20, dockerRun: 5, churn: 12, pandasPreloaded: 8, pandasCold: 3 }
  : { warm: 48, throughput: 60, dockerRun: 20, churn: 40, pandasPreloaded: 24, pandasCold: 8 };

interface Row {
  name: string;
  latency: LatencySummary;
  throughputPerSec: number;
  warmShare?: number;
}

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const image = loadConfig({}).images.python;

/**
 * Latency on warm sandboxes: requests go in bursts no larger than the pool, and the pool is refilled
 * between bursts, so each request finds a pre-started sandbox (the sustained phase measures what
 * happens when it does not).
 */
async function warmLatency(
  service: ServiceProcess,
  code: string,
  runs: number,
  concurrency: number,
  poolSize = POOL_SIZE,
): Promise<Row> {
  const samples: number[] = [];
  const results: ExecutionSample[] = [];
  let wallMs = 0;
  for (let done = 0; done < runs; done += poolSize) {
    await waitForQuietService(docker, service.httpPort, service.instanceId);
    const burst = await measure(Math.min(poolSize, runs - done), concurrency, async () => {
      results.push(await executeCode(service.client, code));
    });
    samples.push(...burst.samples);
    wallMs += burst.wallMs;
  }
  return {
    name: '',
    latency: summarize(samples),
    throughputPerSec: (samples.length * 1000) / wallMs,
    warmShare: results.filter((result) => result.warm).length / results.length,
  };
}

async function sustained(service: ServiceProcess, runs: number, concurrency: number): Promise<Row> {
  await waitForQuietService(docker, service.httpPort, service.instanceId);
  const results: ExecutionSample[] = [];
  const { samples, wallMs } = await measure(runs, concurrency, async () => {
    results.push(await executeCode(service.client, HELLO_PYTHON));
  });
  return {
    name: '',
    latency: summarize(samples),
    throughputPerSec: (runs * 1000) / wallMs,
    warmShare: results.filter((result) => result.warm).length / results.length,
  };
}

async function baseline(runs: number, concurrency: number, task: () => Promise<void>): Promise<Row> {
  await task(); // warm-up: page cache, image layers
  const { samples, wallMs } = await measure(runs, concurrency, task);
  return { name: '', latency: summarize(samples), throughputPerSec: (runs * 1000) / wallMs };
}

function named(name: string, row: Row): Row {
  return { ...row, name };
}

function printTable(rows: Row[]): void {
  const header = ['case'.padEnd(58), 'p50 ms', 'p95 ms', 'p99 ms', 'per s', 'warm'].map((cell, index) =>
    index === 0 ? cell : cell.padStart(8),
  );
  console.log(header.join(' '));
  for (const row of rows) {
    const cells = [row.name.padEnd(58)];
    for (const value of [row.latency.p50, row.latency.p95, row.latency.p99])
      cells.push(value.toFixed(1).padStart(8));
    cells.push(row.throughputPerSec.toFixed(2).padStart(8));
    cells.push(
      row.warmShare === undefined ? ''.padStart(8) : `${Math.round(row.warmShare * 100)}%`.padStart(8),
    );
    console.log(cells.join(' '));
  }
}

async function main(): Promise<void> {
  console.log(
    `code-sandbox benchmark${QUICK ? ' (quick)' : ''}: ${image}, runsc, pool ${POOL_SIZE} per language\n`,
  );
  // Baselines first, on a quiet machine (no pool filling in the background).
  const dockerRunC1 = named(
    'baseline: docker run --runtime=runsc, c=1',
    await baseline(RUNS.dockerRun, 1, () => dockerRun(image, HELLO_PYTHON)),
  );
  const churnC4 = named(
    'baseline: raw runsc churn (create/start/wait/rm), c=4',
    await baseline(RUNS.churn, 4, () => rawChurn(docker, image, HELLO_PYTHON)),
  );

  // Service without preloads: hello-world latency, sustained throughput, pandas imported on demand.
  const plain = await startServiceProcess({ SANDBOX_POOL_SIZE: String(POOL_SIZE), SANDBOX_CONCURRENCY: '4' });
  let helloC1: Row, helloC4: Row, throughput: Row, pandasNoPreload: Row;
  let serviceRssMb: number, idlePooledPlainMb: number, idlePooledNodeMb: number;
  try {
    helloC1 = named(
      'service: hello-world ExecuteCode, warm, c=1',
      await warmLatency(plain, HELLO_PYTHON, RUNS.warm, 1),
    );
    helloC4 = named(
      'service: hello-world ExecuteCode, warm, c=4',
      await warmLatency(plain, HELLO_PYTHON, RUNS.warm, 4),
    );
    pandasNoPreload = named(
      'service: import pandas, not preloaded, c=1',
      await warmLatency(plain, PANDAS, RUNS.pandasCold, 1),
    );
    throughput = named(
      `service: sustained hello-world, ${RUNS.throughput} runs, c=4`,
      await sustained(plain, RUNS.throughput, 4),
    );
    await waitForQuietService(docker, plain.httpPort, plain.instanceId);
    serviceRssMb = plain.rssMb();
    idlePooledPlainMb = await idleSandboxMemoryMb(docker, plain.instanceId, image);
    idlePooledNodeMb = await idleSandboxMemoryMb(docker, plain.instanceId, loadConfig({}).images.nodejs);
  } finally {
    await plain.stop();
  }

  // Service preloading pandas in its warm Python sandboxes.
  const preloaded = await startServiceProcess({
    SANDBOX_POOL_SIZE: String(POOL_SIZE),
    SANDBOX_CONCURRENCY: '4',
    SANDBOX_PRELOAD_PYTHON: 'pandas',
  });
  let pandasWarm: Row, idlePooledPandasMb: number;
  try {
    pandasWarm = named(
      'service: import pandas, preloaded, c=1',
      await warmLatency(preloaded, PANDAS, RUNS.pandasPreloaded, 1),
    );
    idlePooledPandasMb = await idleSandboxMemoryMb(docker, preloaded.instanceId, image);
  } finally {
    await preloaded.stop();
  }

  const allRows = [helloC1, helloC4, pandasWarm, pandasNoPreload, throughput, dockerRunC1, churnC4];
  console.log();
  printTable(allRows);
  const ratios = {
    helloC1SpeedupVsDockerRunP50: dockerRunC1.latency.p50 / helloC1.latency.p50,
    sustainedThroughputVsRawChurn: throughput.throughputPerSec / churnC4.throughputPerSec,
    pandasPreloadSpeedupP50: pandasNoPreload.latency.p50 / pandasWarm.latency.p50,
  };
  const memory = {
    serviceRssMbWithPool8: serviceRssMb,
    idlePooledPythonSandboxWithPandasMb: idlePooledPandasMb,
    idlePooledPythonSandboxMb: idlePooledPlainMb,
    idlePooledNodeSandboxMb: idlePooledNodeMb,
  };
  console.log(
    `\nratios: hello c=1 p50 ${ratios.helloC1SpeedupVsDockerRunP50.toFixed(1)}x faster than docker run; ` +
      `sustained throughput ${(ratios.sustainedThroughputVsRawChurn * 100).toFixed(0)}% of raw churn; ` +
      `pandas preload ${ratios.pandasPreloadSpeedupP50.toFixed(1)}x faster`,
  );
  console.log(
    `memory: service RSS ${memory.serviceRssMbWithPool8} MiB (pool ${POOL_SIZE} per language); idle pooled sandbox: python+pandas ${memory.idlePooledPythonSandboxWithPandasMb} MiB, python ${memory.idlePooledPythonSandboxMb} MiB, node ${memory.idlePooledNodeSandboxMb} MiB`,
  );
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    'bench-results/latest.json',
    `${JSON.stringify({ date: new Date().toISOString(), quick: QUICK, image, poolSize: POOL_SIZE, rows: allRows, ratios, memory }, null, 2)}\n`,
  );
  console.log('written: bench-results/latest.json');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
