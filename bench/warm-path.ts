// Where a warm call's time goes (not a test). Starts the built service (the default configuration
// unless told otherwise through the environment), waits until its pools are full and it is quiet,
// then makes N single calls with a pause between them and splits each, as the client sees it, into:
// request → `started` event (gRPC, admission, pool claim, job directory) → result (the launcher's
// run: start line in, program, result frame out) → end of the call; plus the service's own figures
// from the result (`queue_wait_ms`, `duration_ms`, `total_ms`). Medians and p90 over the calls; and
// the CPU a call costs, per process group (/proc), counted only while calls are in flight.
// Hold the Docker lock: flock /tmp/docker-heavy.lock node --import tsx bench/warm-path.ts [--runs 30]
import type { Client } from '@grpc/grpc-js';
import Docker from 'dockerode';
import { executeCode, HELLO_PYTHON, waitForQuietService } from './operations.js';
import { ProcessCpuSampler, type CpuByGroup } from './process-cpu.js';
import { startServiceProcess } from './service-process.js';
import { percentile } from './stats.js';

const runsIndex = process.argv.indexOf('--runs');
const RUNS = runsIndex >= 0 ? Number(process.argv[runsIndex + 1]) : 30;
const PAUSE_MS = 500;

interface Split {
  toStarted: number;
  startedToResult: number;
  resultToEnd: number;
  total: number;
  serviceDuration: number;
  serviceTotal: number;
  queueWait: number;
}

/** The phases of one call, from what the client saw and what the service reported. */
async function timedCall(client: Client, code: string): Promise<Split> {
  const sample = await executeCode(client, code);
  return {
    toStarted: sample.startedMs,
    startedToResult: sample.resultMs - sample.startedMs,
    resultToEnd: sample.endMs - sample.resultMs,
    total: sample.endMs,
    serviceDuration: sample.durationMs,
    serviceTotal: sample.totalMs,
    queueWait: sample.queueWaitMs,
  };
}

async function main(): Promise<void> {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const service = await startServiceProcess({});
  try {
    const splits: Split[] = [];
    const cpu: CpuByGroup = {};
    const sampler = new ProcessCpuSampler();
    sampler.start();
    await waitForQuietService(docker, service.httpPort, service.instanceId);
    await timedCall(service.client, HELLO_PYTHON); // warm-up: page cache, first gRPC connection
    for (let i = 0; i < RUNS; i++) {
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      await waitForQuietService(docker, service.httpPort, service.instanceId);
      const before = sampler.totals();
      splits.push(await timedCall(service.client, HELLO_PYTHON));
      for (const [group, seconds] of Object.entries(sampler.totals())) {
        cpu[group] = (cpu[group] ?? 0) + seconds - (before[group] ?? 0);
      }
    }
    sampler.stop();
    console.log(`warm path, ${RUNS} calls on a settled default pool (ms)`);
    console.log('phase'.padEnd(58) + 'p50'.padStart(8) + 'p90'.padStart(8));
    const rows: [string, keyof Split][] = [
      ['client: request → started (gRPC, claim, job directory)', 'toStarted'],
      ['client: started → result (the run in the sandbox)', 'startedToResult'],
      ['client: result → end of call', 'resultToEnd'],
      ['client: whole call', 'total'],
      ['service: queue_wait_ms', 'queueWait'],
      ['service: duration_ms (start line → result frame)', 'serviceDuration'],
      ['service: total_ms (received → result)', 'serviceTotal'],
    ];
    for (const [label, key] of rows) {
      const values = splits.map((split) => split[key]).sort((a, b) => a - b);
      console.log(
        label.padEnd(58) +
          percentile(values, 0.5).toFixed(1).padStart(8) +
          percentile(values, 0.9).toFixed(1).padStart(8),
      );
    }
    console.log(`\nCPU per call while it is in flight (ms; the benchmark's own client not counted)`);
    const perCall = Object.entries(cpu)
      .map(([group, seconds]) => [group, (seconds * 1000) / RUNS] as const)
      .filter(([, ms]) => ms >= 0.05)
      .sort((a, b) => b[1] - a[1]);
    for (const [group, ms] of perCall) console.log(group.padEnd(58) + ms.toFixed(1).padStart(8));
    console.log(
      'all'.padEnd(58) +
        perCall
          .reduce((sum, [, ms]) => sum + ms, 0)
          .toFixed(1)
          .padStart(8),
    );
  } finally {
    await service.stop();
  }
}

await main();
