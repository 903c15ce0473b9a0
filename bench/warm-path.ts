// Where a warm call's time goes (not a test). Starts the built service (the default configuration
// unless told otherwise through the environment), waits until its pools are full and it is quiet,
// then makes N single calls with a pause between them and splits each, as the client sees it, into:
// request → `started` event (gRPC, admission, pool claim, job directory) → result (the launcher's
// run: start line in, program, result frame out) → end of the call; plus the service's own figures
// from the result (`queue_wait_ms`, `duration_ms`, `total_ms`). Medians and p90 over the calls.
// Hold the Docker lock: flock /tmp/docker-heavy.lock node --import tsx bench/warm-path.ts [--runs 30]
import Docker from 'dockerode';
import { HELLO_PYTHON, waitForQuietService } from './operations.js';
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

interface Message {
  started?: { warm_start: boolean };
  result?: { exit_reason: string; duration_ms: string; total_ms: string; queue_wait_ms: string };
}

function timedCall(client: unknown, code: string): Promise<Split> {
  return new Promise((resolve, reject) => {
    const begin = performance.now();
    let startedAt = 0;
    let resultAt = 0;
    let result: Message['result'];
    const call = (client as { ExecuteCode(request: unknown): NodeJS.EventEmitter }).ExecuteCode({
      language: 'python',
      code,
    });
    call.on('data', (message: Message) => {
      if (message.started) startedAt = performance.now();
      if (message.result) {
        resultAt = performance.now();
        result = message.result;
      }
    });
    call.on('error', reject);
    call.on('end', () => {
      const end = performance.now();
      if (!result || result.exit_reason !== 'ok') return reject(new Error('call did not end ok'));
      resolve({
        toStarted: startedAt - begin,
        startedToResult: resultAt - startedAt,
        resultToEnd: end - resultAt,
        total: end - begin,
        serviceDuration: Number(result.duration_ms),
        serviceTotal: Number(result.total_ms),
        queueWait: Number(result.queue_wait_ms),
      });
    });
  });
}

async function main(): Promise<void> {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const service = await startServiceProcess({});
  try {
    const splits: Split[] = [];
    await waitForQuietService(docker, service.httpPort, service.instanceId);
    await timedCall(service.client, HELLO_PYTHON); // warm-up: page cache, first gRPC connection
    for (let i = 0; i < RUNS; i++) {
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      await waitForQuietService(docker, service.httpPort, service.instanceId);
      splits.push(await timedCall(service.client, HELLO_PYTHON));
    }
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
  } finally {
    await service.stop();
  }
}

await main();
