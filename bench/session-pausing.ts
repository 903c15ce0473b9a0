// Pausing part of `npm run bench:sessions` (issue 20): pause and resume latency, memory of a running
// session against a paused one, disk per checkpoint, and how many paused sessions this machine holds.
import Docker from 'dockerode';
import { LABEL_SANDBOX } from '../src/sandbox/docker/sandbox-labels.js';
import { sessionLogId } from '../src/session/session-log-id.js';
import type { ServiceProcess } from './service-process.js';
import { summarize, type LatencySummary } from './stats.js';
import { sessionCell as cell, unary } from './grpc-calls.js';

/** Pause and resume of one language's sessions, one session per cycle. */
export interface LanguagePausing {
  pause: LatencySummary;
  resume: LatencySummary;
  runningMemoryMb: number;
  pausedMemoryMb: number;
  checkpointMb: LatencySummary;
  /** Cycles whose session answered from its state after the resume. */
  answered: number;
}

export interface PausingReport {
  languages: Record<PausableLanguage, LanguagePausing>;
  heldPaused: number;
  heldCheckpointMb: number;
  /** Held sessions that answered a cell from their own state after the resume it caused. */
  heldResumed: number;
}

type PausableLanguage = 'python' | 'nodejs';

/** Per language: the state a cycle's session builds, and the check that it came back. */
const CYCLE_CELLS: Record<PausableLanguage, { build: string; check: string }> = {
  python: {
    build: 'import pandas as pd\ndf = pd.DataFrame({"x": range(100_000)})\nx = 41',
    check: 'assert x + 1 == 42 and len(df) == 100_000',
  },
  nodejs: {
    build:
      'const zlib = require("zlib"); const rows = Array.from({ length: 100_000 }, (_, i) => i); let x = 41',
    check: 'if (x + 1 !== 42 || rows.length !== 100_000 || !zlib.gzipSync) throw new Error("state lost")',
  },
};

/** A held session's mark, and the cell that fails unless the session still has it. */
const HELD_CELLS: Record<PausableLanguage, (index: number) => { mark: string; check: string }> = {
  python: (index) => ({ mark: `mark = ${index}`, check: `assert mark == ${index}` }),
  nodejs: (index) => ({
    mark: `var mark = ${index}`,
    check: `if (mark !== ${index}) throw new Error("mark lost")`,
  }),
};

/** The memory cgroup usage Docker reports for a session's container (0 when it does not run). */
async function containerMemoryMb(docker: Docker, sessionId: string): Promise<number> {
  const [info] = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL_SANDBOX}=${sessionLogId(sessionId)}`] },
  });
  if (!info || info.State !== 'running') return 0;
  const stats = (await docker.getContainer(info.Id).stats({ stream: false })) as {
    memory_stats?: { usage?: number };
  };
  return (stats.memory_stats?.usage ?? 0) / 2 ** 20;
}

/** `cycles` sessions of `language`, each paused, resumed and checked. */
async function measureCycles(
  service: ServiceProcess,
  docker: Docker,
  language: PausableLanguage,
  cycles: number,
): Promise<LanguagePausing> {
  const { client } = service;
  // A sandbox is paused at most once (Docker 20.10 restores a container once): one session per cycle.
  const pauses: number[] = [];
  const resumes: number[] = [];
  const checkpointMb: number[] = [];
  let runningMemoryMb = 0;
  let pausedMemoryMb = 0;
  let answered = 0;
  for (let run = 0; run < cycles; run++) {
    const created = await unary(client, 'CreateSession', { language });
    const sessionId = created.session_id as string;
    await cell(client, sessionId, CYCLE_CELLS[language].build);
    runningMemoryMb = Math.max(runningMemoryMb, await containerMemoryMb(docker, sessionId));
    const started = performance.now();
    const paused = await unary(client, 'PauseSession', { session_id: sessionId });
    pauses.push(performance.now() - started);
    checkpointMb.push(Number(paused.checkpoint_bytes) / 2 ** 20);
    pausedMemoryMb = Math.max(pausedMemoryMb, await containerMemoryMb(docker, sessionId));
    const resumed = await unary(client, 'ResumeSession', { session_id: sessionId });
    resumes.push(Number(resumed.resume_ms));
    if (await cell(client, sessionId, CYCLE_CELLS[language].check).catch(() => undefined)) answered += 1;
    await unary(client, 'CloseSession', { session_id: sessionId }).catch(() => undefined);
  }
  return {
    pause: summarize(pauses),
    resume: summarize(resumes),
    runningMemoryMb,
    pausedMemoryMb,
    checkpointMb: summarize(checkpointMb),
    answered,
  };
}

/** `service` runs with SANDBOX_SESSION_PAUSE_AFTER_MS=0 and room for `hold` paused sessions. */
export async function measurePausing(
  service: ServiceProcess,
  cycles: number,
  hold: number,
): Promise<PausingReport> {
  const docker = new Docker();
  const { client } = service;
  const languages = {
    python: await measureCycles(service, docker, 'python', cycles),
    nodejs: await measureCycles(service, docker, 'nodejs', cycles),
  };

  // How many paused sessions the machine holds: Python and Node.js sessions in turn, each with state,
  // created and paused one after another.
  const held: { id: string; language: PausableLanguage }[] = [];
  for (let index = 0; index < hold; index++) {
    const language: PausableLanguage = index % 2 === 0 ? 'python' : 'nodejs';
    const session = await unary(client, 'CreateSession', { language });
    held.push({ id: session.session_id as string, language });
    await cell(client, session.session_id as string, HELD_CELLS[language](index).mark);
    await unary(client, 'PauseSession', { session_id: session.session_id });
    if (index % 10 === 9) process.stdout.write(`  ${index + 1} sessions created\n`);
  }
  const metrics = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0);
  const heldPaused = gauge('code_sandbox_sessions_paused');
  const heldCheckpointMb = gauge('code_sandbox_session_checkpoint_bytes') / 2 ** 20;
  // Every one is resumed by its next cell and must answer from its own state: a restore that came
  // back without its stdio (docs/sessions.md) would show here as a cell that never answers.
  let heldResumed = 0;
  for (const [index, { id, language }] of held.entries()) {
    const result = await cell(client, id, HELD_CELLS[language](index).check).catch(() => undefined);
    if (result !== undefined) heldResumed += 1;
    // Resident again: close it, so the resumed ones never add up past the memory bound.
    await unary(client, 'CloseSession', { session_id: id }).catch(() => undefined);
  }
  return { languages, heldPaused, heldCheckpointMb, heldResumed };
}
