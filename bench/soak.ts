// Soak run (not a test): a mixed workload, hostile cases included, against the real service (dist/,
// a child process) on loopback, for a fixed period, bounded in count and time; it stops by itself.
// Reports executions by exit reason, errors by code, latency, service RSS and open fds at start and
// end, and what is left behind after the service stopped: containers and job directories (must be 0).
//   npm run soak -- [--minutes 10] [--concurrency 4] [--max-executions 100000]
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import Docker from 'dockerode';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { summarize } from './stats.js';

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

const MINUTES = argument('minutes', 10);
const CONCURRENCY = argument('concurrency', 4);
const MAX_EXECUTIONS = argument('max-executions', 100_000);

/** The mix: [weight, request]. Hostile cases are a steady share of the traffic. */
const WORKLOAD: [number, Record<string, unknown>][] = [
  [30, { language: 'python', code: 'print("hello")' }],
  [
    10,
    {
      language: 'nodejs',
      code: 'function main(a) { return a.x + 1 }',
      entrypoint: 'main',
      arguments_json: '{"x": 41}',
    },
  ],
  [
    10,
    {
      language: 'python',
      code: 'def main():\n    open("artifacts/r.csv", "w").write("a,b\\n1,2")\n    return {"ok": True}',
      entrypoint: 'main',
    },
  ],
  [8, { language: 'python', code: 'raise SystemExit(3)' }],
  [5, { language: 'python', code: 'while True: pass', limits: { timeout_ms: 1000 } }],
  [
    5,
    {
      language: 'python',
      code: 'x = []\nwhile True: x.append(bytearray(8 << 20))',
      limits: { memory_bytes: 64 << 20 },
    },
  ],
  [
    5,
    {
      language: 'python',
      code: 'import sys\nwhile True: sys.stdout.write("f" * 8192)',
      limits: { output_bytes: 100000 },
    },
  ],
  [
    5,
    {
      language: 'python',
      code: 'import os\nwhile True: os.fork()',
      limits: { max_processes: 16, timeout_ms: 3000 },
    },
  ],
  [5, { language: 'python', code: 'import socket\nsocket.create_connection(("1.1.1.1", 53), timeout=2)' }],
  [
    5,
    {
      language: 'python',
      code: 'import subprocess, sys\nsubprocess.Popen([sys.executable, "-c", "while True: pass"])\nprint("left a spinner")',
    },
  ],
  [6, { language: 'python', code: 'x', files: [{ path: '../escape', content: Buffer.from('x') }] }],
  [6, { language: 'cobol', code: 'DISPLAY "HI"' }],
];

function pick(): Record<string, unknown> {
  const total = WORKLOAD.reduce((sum, [weight]) => sum + weight, 0);
  let roll = Math.random() * total;
  for (const [weight, request] of WORKLOAD) {
    roll -= weight;
    if (roll < 0) return request;
  }
  return WORKLOAD[0]![1];
}

function execute(service: ServiceProcess, request: Record<string, unknown>): Promise<{ outcome: string }> {
  return new Promise((resolve) => {
    const call = (
      service.client as unknown as { ExecuteCode(r: unknown, m: Metadata): NodeJS.EventEmitter }
    ).ExecuteCode(request, new Metadata());
    let outcome = 'no result';
    call.on('data', (message: { result?: { exit_reason: string } }) => {
      if (message.result) outcome = `exit_reason:${message.result.exit_reason}`;
    });
    call.on('error', (error: ServiceError) => resolve({ outcome: `error:${error.code}` }));
    call.on('end', () => resolve({ outcome }));
  });
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function main(): Promise<void> {
  const workRoot = mkdtempSync('/dev/shm/code-sandbox-soak-');
  const service = await startServiceProcess({
    SANDBOX_WORK_ROOT: workRoot,
    SANDBOX_CONCURRENCY: String(Math.max(1, CONCURRENCY - 1)),
  });
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  await new Promise((resolve) => setTimeout(resolve, 5000)); // let the pools fill
  const start = { rssMb: service.rssMb(), fds: openFds(service.pid) };
  const outcomes = new Map<string, number>();
  const latencies: number[] = [];
  const deadline = Date.now() + MINUTES * 60_000;
  let executions = 0;
  console.log(`soak: ${MINUTES} min, concurrency ${CONCURRENCY}, service pid ${service.pid}`);
  const worker = async () => {
    while (Date.now() < deadline && executions < MAX_EXECUTIONS) {
      executions += 1;
      const t0 = performance.now();
      const { outcome } = await execute(service, pick());
      latencies.push(performance.now() - t0);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
  };
  const progress = setInterval(
    () => console.log(`  ${executions} executions, RSS ${service.rssMb()} MiB`),
    60_000,
  );
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  clearInterval(progress);
  await new Promise((resolve) => setTimeout(resolve, 5000)); // background removals settle
  const end = { rssMb: service.rssMb(), fds: openFds(service.pid) };
  await service.stop();

  const leftoverContainers = await docker.listContainers({
    all: true,
    filters: { label: [`code-sandbox.instance=${service.instanceId}`] },
  });
  const jobsDir = join(workRoot, 'jobs');
  const leftoverJobDirs = readdirSync(workRoot).includes('jobs') ? readdirSync(jobsDir).length : 0;
  rmSync(workRoot, { recursive: true, force: true });

  const report = {
    minutes: MINUTES,
    concurrency: CONCURRENCY,
    executions,
    byOutcome: Object.fromEntries([...outcomes.entries()].sort()),
    latencyMs: summarize(latencies),
    service: { start, end },
    leftoverContainers: leftoverContainers.length,
    leftoverJobDirectories: leftoverJobDirs,
  };
  console.log(JSON.stringify(report, null, 2));
  mkdirSync('bench-results', { recursive: true });
  writeFileSync('bench-results/soak.json', `${JSON.stringify(report, null, 2)}\n`);
  const clean =
    report.leftoverContainers === 0 && report.leftoverJobDirectories === 0 && !outcomes.has('no result');
  console.log(
    clean ? 'soak: clean (nothing left behind, every call answered)' : 'soak: LEAK OR UNANSWERED CALL',
  );
  process.exit(clean ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
