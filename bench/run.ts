// Benchmark harness (not a test): starts the real service in this process and measures hello-world
// ExecuteCode over gRPC against a naive baseline, a plain `docker run --runtime=runsc` of the same
// code, in the same run. Prints a table and writes bench-results/latest.json.
//   npm run bench -- [--runs N] [--concurrency C]
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { credentials, type Client } from '@grpc/grpc-js';
import { pino } from 'pino';
import { startApp } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { loadSandboxService } from '../src/transport/grpc/sandbox-proto.js';
import { measure, summarize, type LatencySummary } from './stats.js';

const run = promisify(execFile);
const HELLO = 'print("hello")';

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

function executeHello(client: Client): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = (client as unknown as { ExecuteCode(request: unknown): NodeJS.EventEmitter }).ExecuteCode({
      language: 'python',
      code: HELLO,
    });
    let ok = false;
    call.on('data', (message: { result?: { exit_reason: string } }) => {
      if (message.result) ok = message.result.exit_reason === 'ok';
    });
    call.on('error', reject);
    call.on('end', () => (ok ? resolve() : reject(new Error('hello-world did not exit ok'))));
  });
}

async function dockerRunHello(image: string): Promise<void> {
  const { stdout } = await run('/usr/bin/docker', [
    'run',
    '--rm',
    '--runtime=runsc',
    '--network=none',
    '--user=65534:65534',
    image,
    'python3',
    '-c',
    HELLO,
  ]);
  if (stdout !== 'hello\n') throw new Error(`docker run printed ${JSON.stringify(stdout)}`);
}

function row(name: string, summary: LatencySummary, throughput: number, ratio?: number): string {
  const cells = [
    name.padEnd(44),
    ...[summary.p50, summary.p95, summary.p99].map((v) => v.toFixed(1).padStart(8)),
  ];
  cells.push(throughput.toFixed(2).padStart(9));
  cells.push(ratio === undefined ? '' : `${ratio.toFixed(2)}x`.padStart(8));
  return cells.join(' ');
}

async function main(): Promise<void> {
  const runs = argument('runs', 20);
  const concurrency = argument('concurrency', 1);
  const workRoot = mkdtempSync(join(tmpdir(), 'code-sandbox-bench-'));
  const config = loadConfig({
    ...process.env,
    SANDBOX_GRPC_PORT: '0',
    SANDBOX_HTTP_PORT: '0',
    SANDBOX_WORK_ROOT: workRoot,
    SANDBOX_CONCURRENCY: String(Math.max(concurrency, 1)),
  });
  const app = await startApp(config, pino({ level: 'warn' }));
  const Service = loadSandboxService();
  const client = new Service(`127.0.0.1:${app.grpcPort}`, credentials.createInsecure());
  try {
    // Warm-up: first runs pay page-cache and image-layer costs that steady state does not.
    for (let i = 0; i < 2; i++) {
      await executeHello(client);
      await dockerRunHello(config.images.python);
    }
    const service = await measure(runs, concurrency, () => executeHello(client));
    const baseline = await measure(runs, concurrency, () => dockerRunHello(config.images.python));
    const serviceSummary = summarize(service.samples);
    const baselineSummary = summarize(baseline.samples);
    const results = {
      date: new Date().toISOString(),
      runs,
      concurrency,
      service: { ...serviceSummary, throughputPerSec: (runs * 1000) / service.wallMs },
      dockerRunBaseline: { ...baselineSummary, throughputPerSec: (runs * 1000) / baseline.wallMs },
      speedupP50: baselineSummary.p50 / serviceSummary.p50,
      serviceRssMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
    };
    console.log(
      `hello-world, ${runs} runs, concurrency ${concurrency} (latency ms, throughput /s, speed-up vs baseline p50)`,
    );
    console.log(
      [
        'case'.padEnd(44),
        'p50'.padStart(8),
        'p95'.padStart(8),
        'p99'.padStart(8),
        'thru/s'.padStart(9),
        'ratio'.padStart(8),
      ].join(' '),
    );
    console.log(
      row(
        'ExecuteCode over gRPC (service, cold start)',
        serviceSummary,
        results.service.throughputPerSec,
        results.speedupP50,
      ),
    );
    console.log(
      row(
        'docker run --runtime=runsc (baseline)',
        baselineSummary,
        results.dockerRunBaseline.throughputPerSec,
      ),
    );
    mkdirSync('bench-results', { recursive: true });
    writeFileSync('bench-results/latest.json', `${JSON.stringify(results, null, 2)}\n`);
    console.log('written: bench-results/latest.json');
  } finally {
    client.close();
    await app.stop();
    rmSync(workRoot, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
