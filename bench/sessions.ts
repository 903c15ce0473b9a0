// Session benchmark (not a test). Starts the real service (dist/) and measures, per language:
//   - CreateSession latency, cold (a container + interpreter started for the call) and warm (one from
//     the warm session pool; the pool is given time to refill between creations);
//   - second-cell latency: the round trip of a cell in a session whose first cell already ran;
//   - pausing (session-pausing.ts): PauseSession and resume latency, memory of a running session
//     against a paused one, disk per checkpoint, how many paused sessions the machine holds;
// each as p50/p95/p99. Prints a table and writes bench-results/sessions.json.
//   npm run bench:sessions -- [--quick] [--pausing-only]
import { mkdirSync, writeFileSync } from 'node:fs';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { summarize, type LatencySummary } from './stats.js';
import { measurePausing, type PausingReport } from './session-pausing.js';
import { sessionCell as cell, unary } from './grpc-calls.js';

const QUICK = process.argv.includes('--quick');
const PAUSING_ONLY = process.argv.includes('--pausing-only');
const PAUSING = QUICK ? { cycles: 5, hold: 20 } : { cycles: 20, hold: 105 };
const RUNS = QUICK ? { create: 4, cells: 30 } : { create: 12, cells: 100 };
/** Time the warm pool gets to start a replacement (container + kernel) before the next creation. */
const REFILL_WAIT_MS = 6000;
const LANGUAGES = ['python', 'nodejs'] as const;
const SECOND_CELL = { python: 'x + 1', nodejs: 'x + 1' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function createLatency(
  service: ServiceProcess,
  language: string,
  warm: boolean,
): Promise<LatencySummary> {
  const samples: number[] = [];
  for (let run = 0; run < RUNS.create; run++) {
    if (warm) await sleep(REFILL_WAIT_MS);
    const started = performance.now();
    const created = await unary(service.client, 'CreateSession', { language });
    samples.push(performance.now() - started);
    if (created.warm_start !== warm) throw new Error(`expected warm_start=${warm}`);
    await unary(service.client, 'CloseSession', { session_id: created.session_id });
  }
  return summarize(samples);
}

async function secondCellLatency(
  service: ServiceProcess,
  language: (typeof LANGUAGES)[number],
): Promise<LatencySummary> {
  const created = await unary(service.client, 'CreateSession', { language });
  const sessionId = created.session_id as string;
  await cell(service.client, sessionId, language === 'python' ? 'x = 41' : 'var x = 41');
  const samples: number[] = [];
  for (let run = 0; run < RUNS.cells; run++) {
    const started = performance.now();
    await cell(service.client, sessionId, SECOND_CELL[language]);
    samples.push(performance.now() - started);
  }
  await unary(service.client, 'CloseSession', { session_id: sessionId });
  return summarize(samples);
}

async function pausing(): Promise<PausingReport> {
  const service = await startServiceProcess({
    SANDBOX_POOL_SIZE: '0',
    SANDBOX_SESSION_POOL_SIZE: '0',
    SANDBOX_SESSION_PAUSE_AFTER_MS: '0',
    // The default SANDBOX_MAX_SESSIONS and per-caller share bound the running sessions only: the one
    // caller of the bench holds all of them, paused, within the paused bound.
    SANDBOX_MAX_PAUSED_SESSIONS: String(PAUSING.hold + 10),
    // Creating and pausing 105 sessions takes about 13 minutes here: past the default 10-minute idle
    // timeout, which would end the first ones before they are counted.
    SANDBOX_SESSION_IDLE_TIMEOUT_MS: String(3_600_000),
  });
  try {
    // The start-up probe must have answered before the first pause.
    for (let i = 0; i < 100; i++) {
      const ready = (await (await fetch(`http://127.0.0.1:${service.httpPort}/readyz`)).json()) as {
        session_checkpoint?: { works: boolean; detail: string };
      };
      if (ready.session_checkpoint?.detail !== 'not probed yet') break;
      await sleep(200);
    }
    return await measurePausing(service, PAUSING.cycles, PAUSING.hold);
  } finally {
    await service.stop();
  }
}

async function main(): Promise<void> {
  const rows: { name: string; latency: LatencySummary }[] = [];
  const paused = await pausing();
  for (const [language, cycles] of Object.entries(paused.languages)) {
    console.log(
      `\n${language}: pause p50 ${cycles.pause.p50.toFixed(0)} ms p99 ${cycles.pause.p99.toFixed(0)} ms; resume p50 ${cycles.resume.p50.toFixed(0)} ms p99 ${cycles.resume.p99.toFixed(0)} ms; answered after resume: ${cycles.answered} of ${PAUSING.cycles}` +
        `\n${language}: memory running ${cycles.runningMemoryMb.toFixed(0)} MiB, paused ${cycles.pausedMemoryMb.toFixed(0)} MiB; checkpoint p50 ${cycles.checkpointMb.p50.toFixed(1)} MiB`,
    );
  }
  console.log(
    `held ${paused.heldPaused} paused sessions (Python and Node.js in turn), ${paused.heldCheckpointMb.toFixed(0)} MiB of checkpoints; resumed from their state: ${paused.heldResumed} of ${PAUSING.hold}`,
  );
  mkdirSync('bench-results', { recursive: true });
  if (PAUSING_ONLY) {
    writeFileSync(
      'bench-results/sessions-pausing.json',
      JSON.stringify({ at: new Date().toISOString(), quick: QUICK, paused }, null, 2),
    );
    return;
  }
  const cold = await startServiceProcess({ SANDBOX_POOL_SIZE: '0', SANDBOX_SESSION_POOL_SIZE: '0' });
  try {
    for (const language of LANGUAGES) {
      rows.push({
        name: `${language} CreateSession, cold`,
        latency: await createLatency(cold, language, false),
      });
      rows.push({ name: `${language} second cell`, latency: await secondCellLatency(cold, language) });
    }
  } finally {
    await cold.stop();
  }
  const warm = await startServiceProcess({ SANDBOX_POOL_SIZE: '0', SANDBOX_SESSION_POOL_SIZE: '1' });
  try {
    for (const language of LANGUAGES) {
      rows.push({
        name: `${language} CreateSession, warm`,
        latency: await createLatency(warm, language, true),
      });
    }
  } finally {
    await warm.stop();
  }
  console.log('\nworkload                              n     p50 ms   p95 ms   p99 ms');
  for (const { name, latency } of rows) {
    console.log(
      `${name.padEnd(36)} ${String(latency.count).padStart(3)} ${latency.p50.toFixed(1).padStart(8)} ${latency.p95.toFixed(1).padStart(8)} ${latency.p99.toFixed(1).padStart(8)}`,
    );
  }
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    'bench-results/sessions.json',
    JSON.stringify({ at: new Date().toISOString(), quick: QUICK, rows, paused }, null, 2),
  );
}

await main();
