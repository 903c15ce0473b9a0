// The containerd backend against the Docker backend: sandbox churn (create, start, run a trivial
// program, wait for its exit, remove) through each engine of the service itself (src/sandbox/*-engine.ts),
// with the same isolation spec, 4 at once. Both rows appear in `npm run bench`; alone:
//   flock /tmp/docker-heavy.lock node --import tsx bench/engine-churn.ts [runs]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/config/config.js';
import { resolveLimits } from '../src/domain/limits.js';
import { ContainerdEngine } from '../src/sandbox/containerd/containerd-engine.js';
import { DockerEngine } from '../src/sandbox/docker/docker-engine.js';
import { dockerClient } from '../src/sandbox/docker/docker-client.js';
import type { SandboxEngine } from '../src/sandbox/engine/sandbox-engine.js';
import { HELLO_PYTHON } from './operations.js';
import { measure, summarize } from './stats.js';
import type { Row } from './targets.js';

const CONCURRENCY = 4;

/** One sandbox's whole lifecycle on an engine, with the service's own spec for a one-shot sandbox. */
async function lifecycle(engine: SandboxEngine, scratchDir: string, sequence: number): Promise<void> {
  const config = loadConfig({});
  const sandboxId = `bench-${engine.name}-${process.pid}-${sequence}`;
  const { container, stream } = await engine.launch({
    sandboxId,
    instanceId: `bench-${process.pid}`,
    image: config.images.python,
    runtime: 'runsc',
    launcherCommand: ['python3', '-c', HELLO_PYTHON],
    limits: resolveLimits({}, config.defaultLimits, config.limitCeilings),
    scratchBytes: config.scratchBytes,
    jobHostDir: scratchDir,
    runtimeHostDir: scratchDir,
    expiresAtMs: Date.now() + 60_000,
    seccompProfile: undefined,
  });
  stream.resume();
  try {
    await container.exit();
  } finally {
    await container.remove();
    stream.destroy();
  }
}

/** The churn rows of both engines, measured one after the other on the same machine. */
export async function engineChurnRows(runs: number): Promise<Row[]> {
  const config = loadConfig({});
  const logger = pino({ level: 'warn' });
  const scratchDir = mkdtempSync(join(tmpdir(), 'engine-churn-'));
  const fifoRoot = mkdtempSync(join(tmpdir(), 'engine-churn-fifos-'));
  const engines: [SandboxEngine, string][] = [
    [
      new DockerEngine({
        docker: dockerClient(config.dockerSocket),
        dockerSocket: config.dockerSocket,
        logger,
      }),
      'docker backend churn: launch/exit/remove (c=4)',
    ],
    [
      new ContainerdEngine({ ...config.containerd, fifoRoot, logger }),
      'containerd backend churn: launch/exit/remove (c=4)',
    ],
  ];
  const rows: Row[] = [];
  try {
    for (const [engine, name] of engines) {
      let sequence = 0;
      const task = () => lifecycle(engine, scratchDir, sequence++);
      await task(); // warm-up: page cache, image layers, the engine's connections
      const { samples, wallMs } = await measure(runs, CONCURRENCY, task);
      rows.push({
        configuration: 'baseline',
        key: `${engine.name}-churn`,
        name,
        latency: summarize(samples),
        throughputPerSec: (runs * 1000) / wallMs,
      });
      engine.close();
    }
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
    rmSync(fifoRoot, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await engineChurnRows(Number(process.argv[2] ?? 30));
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(50)} p50 ${row.latency.p50.toFixed(0)} ms  p95 ${row.latency.p95.toFixed(0)} ms  ${row.throughputPerSec.toFixed(2)}/s`,
    );
  }
  const [docker, containerd] = rows;
  console.log(
    `containerd / docker throughput: ${(containerd!.throughputPerSec / docker!.throughputPerSec).toFixed(2)}x`,
  );
}
