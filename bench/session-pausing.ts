// Pausing part of `npm run bench:sessions` (issue 20): pause and resume latency, memory of a running
// session against a paused one, disk per checkpoint, and how many paused sessions this machine holds.
import Docker from 'dockerode';
import { LABEL_SANDBOX } from '../src/sandbox/docker/sandbox-labels.js';
import { sessionLogId } from '../src/session/session-log-id.js';
import type { ServiceProcess } from './service-process.js';
import { summarize, type LatencySummary } from './stats.js';
import { sessionCell as cell, unary } from './grpc-calls.js';

export interface PausingReport {
  pause: LatencySummary;
  resume: LatencySummary;
  runningMemoryMb: number;
  pausedMemoryMb: number;
  checkpointMb: LatencySummary;
  heldPaused: number;
  heldCheckpointMb: number;
  /** Held sessions that answered a cell from their own state after the resume it caused. */
  heldResumed: number;
}

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

/** `service` runs with SANDBOX_SESSION_PAUSE_AFTER_MS=0 and room for `hold` paused sessions. */
export async function measurePausing(
  service: ServiceProcess,
  cycles: number,
  hold: number,
): Promise<PausingReport> {
  const docker = new Docker();
  const { client } = service;
  // A sandbox is paused at most once (Docker 20.10 restores a container once): one session per cycle.
  const pauses: number[] = [];
  const resumes: number[] = [];
  const checkpointMb: number[] = [];
  let runningMemoryMb = 0;
  let pausedMemoryMb = 0;
  for (let run = 0; run < cycles; run++) {
    const created = await unary(client, 'CreateSession', { language: 'python' });
    const sessionId = created.session_id as string;
    await cell(client, sessionId, 'import pandas as pd\ndf = pd.DataFrame({"x": range(100_000)})\nx = 41');
    runningMemoryMb = Math.max(runningMemoryMb, await containerMemoryMb(docker, sessionId));
    const started = performance.now();
    const paused = await unary(client, 'PauseSession', { session_id: sessionId });
    pauses.push(performance.now() - started);
    checkpointMb.push(Number(paused.checkpoint_bytes) / 2 ** 20);
    pausedMemoryMb = Math.max(pausedMemoryMb, await containerMemoryMb(docker, sessionId));
    const resumed = await unary(client, 'ResumeSession', { session_id: sessionId });
    resumes.push(Number(resumed.resume_ms));
    await cell(client, sessionId, 'assert x + 1 == 42 and len(df) == 100_000');
    await unary(client, 'CloseSession', { session_id: sessionId });
  }

  // How many paused sessions the machine holds: Python sessions (Node.js ones are not paused yet),
  // each with state, created and paused one after another.
  const held: string[] = [];
  for (let index = 0; index < hold; index++) {
    const session = await unary(client, 'CreateSession', { language: 'python' });
    held.push(session.session_id as string);
    await cell(client, session.session_id as string, `mark = ${index}`);
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
  for (const [index, id] of held.entries()) {
    const result = await cell(client, id, `assert mark == ${index}`).catch(() => undefined);
    if (result !== undefined) heldResumed += 1;
    // Resident again: close it, so the resumed ones never add up past the memory bound.
    await unary(client, 'CloseSession', { session_id: id }).catch(() => undefined);
  }
  return {
    pause: summarize(pauses),
    resume: summarize(resumes),
    runningMemoryMb,
    pausedMemoryMb,
    checkpointMb: summarize(checkpointMb),
    heldPaused,
    heldCheckpointMb,
    heldResumed,
  };
}
