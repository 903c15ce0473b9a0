import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../../src/domain/caller-identity.js';
import { NotFoundError, ResourceExhaustedError, type ServiceError } from '../../src/errors/service-error.js';
import { CapturedLog } from '../support/captured-log.js';
import { SessionService } from '../../src/session/session-service.js';
import { sessionLogId } from '../../src/session/session-log-id.js';
import type {
  CellOutcome,
  SessionSandbox,
  SessionSandboxProvider,
} from '../../src/session/session-sandbox.js';

/** A session sandbox kept in memory: files in a map, every cell "ok". The service's port, no Docker. */
function memorySandbox(index: number): SessionSandbox & { closed: boolean } {
  const files = new Map<string, Buffer>();
  let cells = 0;
  const sandbox = {
    sandboxId: `sandbox-${index}`,
    warm: false,
    closed: false,
    paused: false,
    pausable: true,
    location: {
      containerId: String(index).padStart(64, '0'),
      sandboxId: `sandbox-${index}`,
      jobHostDir: '/x',
      warm: false,
    },
    async pause() {
      sandbox.paused = true;
      return { checkpointBytes: 10 << 20 };
    },
    async resume() {
      sandbox.paused = false;
    },
    release() {},
    async runCell(): Promise<CellOutcome> {
      cells += 1;
      return {
        exitCode: 0,
        signal: 0,
        exitReason: 'ok',
        detail: '',
        durationMs: 1,
        stdoutTruncated: false,
        stderrTruncated: false,
        peakMemoryKb: 0,
        egress: null,
        executionCount: cells,
        interpreterRestarted: false,
      };
    },
    async upload(path: string, content: Buffer) {
      files.set(path, content);
      return content.length;
    },
    async download(path: string) {
      const content = files.get(path);
      if (!content) throw new NotFoundError(`no file "${path}"`);
      return content;
    },
    async list() {
      return {
        files: [...files].map(([path, content]) => ({ path, size: content.length })),
        truncated: false,
      };
    },
    installPackages() {
      throw new Error('this fake installs nothing');
    },
    onEnd() {},
    close() {
      sandbox.closed = true;
    },
  };
  return sandbox;
}

const limits = {
  timeoutMs: 1000,
  memoryBytes: 64 << 20,
  cpuMillicores: 1000,
  maxProcesses: 64,
  outputBytes: 1024,
};
const alice = 'token:default' as CallerIdentity;
const bob = 'peer:127.0.0.2' as CallerIdentity;

function sessionService(maxSessions = 4, maxSessionsPerCaller = 2, maxPausedSessions = 0) {
  const sandboxes: ReturnType<typeof memorySandbox>[] = [];
  const provider: SessionSandboxProvider = {
    acquire: async () => {
      const sandbox = memorySandbox(sandboxes.length);
      sandboxes.push(sandbox);
      return sandbox;
    },
    start() {},
    close: async () => undefined,
    checkpointing: async () => ({ works: maxPausedSessions > 0, detail: 'in memory' }),
    adopt: async () => undefined,
    discard: async () => undefined,
  };
  const log = new CapturedLog();
  const service = new SessionService({
    provider,
    instanceId: 'unit',
    maxSessions,
    maxSessionsPerCaller,
    maxLifetimeMs: 60_000,
    defaultLimits: limits,
    limitCeilings: limits,
    policy: {
      maxCodeBytes: 1024,
      maxFiles: 4,
      maxInputBytes: 1024,
      idleTimeoutMs: 60_000,
      egressCeiling: [],
    },
    maxDownloadBytes: 1024,
    installTimeoutMs: 60_000,
    pauseAfterMs: 0,
    maxPausedSessions,
    checkpointBudgetBytes: 1 << 30,
    registry: undefined,
    metrics: {
      sessionOpened() {},
      sessionClosed() {},
      cellFinished() {},
      sessionRefused() {},
      sessionPaused() {},
      sessionPauseSkipped() {},
      sessionResumed() {},
      sessionResumeFailed() {},
      sessionAdoption() {},
      checkpointSupported() {},
    },
    logger: pino({ level: 'info' }, log),
  });
  return { service, sandboxes, log };
}

const signal = new AbortController().signal;
const create = (service: SessionService, caller: CallerIdentity) =>
  service.create(caller, { language: 'python' }, signal);
const run = (service: SessionService, caller: CallerIdentity, id: string) =>
  service.execute(caller, id, { code: 'x = 1' }, { signal, onEvent: () => undefined });

async function refusal(promise: Promise<unknown>): Promise<ServiceError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error as ServiceError,
  );
  if (!outcome) throw new Error('expected a refusal');
  return outcome;
}

describe('SessionService ownership', () => {
  it('answers another caller exactly as for an id nobody holds, on every operation', async () => {
    const { service, sandboxes } = sessionService();
    const { sessionId } = await create(service, alice);
    await service.upload(alice, sessionId, 'a.txt', Buffer.from('mine'), signal);
    const unknown = `unit.${'0'.repeat(32)}`;
    const attempts = (id: string): Promise<unknown>[] => [
      run(service, bob, id),
      service.upload(bob, id, 'a.txt', Buffer.from('theirs'), signal),
      service.download(bob, id, 'a.txt', signal),
      service.list(bob, id, signal),
      service.close(bob, id),
    ];
    const foreign = await Promise.all(attempts(sessionId).map(refusal));
    const absent = await Promise.all(attempts(unknown).map(refusal));
    for (const [index, error] of foreign.entries()) {
      expect(error).toBeInstanceOf(NotFoundError);
      // Same words, with the id the caller sent in place of the other one.
      expect(error.message).toBe(absent[index]!.message.replace(unknown, sessionId));
    }
    // Nothing of Bob's reached Alice's session, and it is still hers.
    expect(sandboxes[0]!.closed).toBe(false);
    expect((await service.download(alice, sessionId, 'a.txt', signal)).toString()).toBe('mine');
    expect((await run(service, alice, sessionId)).exitReason).toBe('ok');
    await service.close(alice, sessionId);
    expect(sandboxes[0]!.closed).toBe(true);
  });
});

describe('SessionService per-caller quota', () => {
  it('refuses a caller past its own quota while others still get sessions, and frees a slot on close', async () => {
    const { service } = sessionService(4, 2);
    const first = await create(service, alice);
    await create(service, alice);
    const refused = await refusal(create(service, alice));
    expect(refused).toBeInstanceOf(ResourceExhaustedError);
    expect(refused.message).toMatch(/runs 2 sessions.*SANDBOX_MAX_SESSIONS_PER_CALLER/);
    // Bob is not held back by Alice's sessions.
    await create(service, bob);
    await service.close(alice, first.sessionId);
    await create(service, alice);
    expect(service.openCount).toBe(3);
  });

  it('still applies the service-wide limit across callers', async () => {
    const { service } = sessionService(3, 2);
    await create(service, alice);
    await create(service, alice);
    await create(service, bob);
    const refused = await refusal(create(service, bob));
    expect(refused).toBeInstanceOf(ResourceExhaustedError);
    expect(refused.message).toMatch(/all 3 sessions are in use/);
  });

  it('gives the slot back when creating the session fails', async () => {
    const { service } = sessionService(4, 1);
    const tooBig = { language: 'python', files: [{ path: 'big', content: Buffer.alloc(2048) }] };
    await refusal(service.create(alice, tooBig, signal));
    await create(service, alice);
  });
});

describe('SessionService logging', () => {
  it('logs a short hash of the session id, never the id', async () => {
    const { service, log } = sessionService();
    const { sessionId } = await create(service, alice);
    await run(service, alice, sessionId);
    await service.close(alice, sessionId);
    expect(log.raw.join('\n')).not.toContain(sessionId);
    expect(log.raw.join('\n')).not.toContain(sessionId.split('.')[1]);
    const ids = log.lines.filter((line) => line.session !== undefined).map((line) => line.session);
    expect(ids.length).toBeGreaterThanOrEqual(3);
    expect(new Set(ids)).toEqual(new Set([sessionLogId(sessionId)]));
    expect(sessionLogId(sessionId)).toMatch(/^[0-9a-f]{12}$/);
  });
});

describe('SessionService pausing (checkpoints in memory)', () => {
  it('pauses the least recently used idle session to make room, and resumes it on its next call', async () => {
    const { service, sandboxes } = sessionService(2, 4, 8);
    await service.start();
    const first = await create(service, alice);
    const second = await create(service, alice);
    await run(service, alice, second.sessionId);
    await run(service, alice, first.sessionId); // second is now the least recently used
    const third = await create(service, alice);
    expect(sandboxes[1]!.paused).toBe(true);
    expect(sandboxes[0]!.paused).toBe(false);
    expect(service.pausedCount).toBe(1);
    // Its next call resumes it, after pausing the least recently used of the others (first).
    const result = await run(service, alice, second.sessionId);
    expect(result.cell?.resumeMs).toBeGreaterThanOrEqual(0);
    expect(sandboxes[1]!.paused).toBe(false);
    expect(sandboxes[0]!.paused).toBe(true);
    expect(service.openCount).toBe(3);
    await service.close(alice, third.sessionId);
  });

  it("keeps a caller's paused sessions out of its quota: its least recently used idle one is paused for the next", async () => {
    const { service, sandboxes } = sessionService(4, 2, 8);
    await service.start();
    const first = await create(service, alice);
    const second = await create(service, alice);
    await run(service, alice, first.sessionId); // second is now alice's least recently used
    const third = await create(service, alice);
    expect(sandboxes.map((sandbox) => sandbox.paused)).toEqual([false, true, false]);
    // Bob's sessions are never paused for alice's room, nor counted in her share.
    await create(service, bob);
    await create(service, bob);
    expect(sandboxes.slice(3).map((sandbox) => sandbox.paused)).toEqual([false, false]);
    // Resuming alice's paused one pauses her least recently used running one (first), not bob's.
    await run(service, alice, third.sessionId);
    const resumed = await run(service, alice, second.sessionId);
    expect(resumed.cell?.resumeMs).toBeGreaterThanOrEqual(0);
    expect(sandboxes.map((sandbox) => sandbox.paused)).toEqual([true, false, false, false, false]);
    expect(service.openCount).toBe(5);
  });

  it('refuses an explicit pause past SANDBOX_MAX_PAUSED_SESSIONS and keeps the session running', async () => {
    const { service, sandboxes } = sessionService(4, 4, 1);
    await service.start();
    const first = await create(service, alice);
    const second = await create(service, alice);
    expect((await service.pause(alice, first.sessionId, signal)).paused).toBe(true);
    const refused = await service
      .pause(alice, second.sessionId, signal)
      .catch((error: ServiceError) => error);
    expect(refused).toBeInstanceOf(ResourceExhaustedError);
    expect((refused as ServiceError).message).toContain('SANDBOX_MAX_PAUSED_SESSIONS');
    expect(sandboxes[1]!.paused).toBe(false);
    // Another caller cannot pause or resume it: not found, like any other call.
    await expect(service.resume(bob, first.sessionId, signal)).rejects.toBeInstanceOf(NotFoundError);
    const resumed = await service.resume(alice, first.sessionId, signal);
    expect(resumed).toMatchObject({ paused: false });
    expect(resumed.resumeMs).toBeGreaterThanOrEqual(0);
  });

  it('where checkpoints do not work, a pause is a no-op answered as running, never an error', async () => {
    const { service } = sessionService(4, 4, 0);
    await service.start();
    const session = await create(service, alice);
    expect(await service.pause(alice, session.sessionId, signal)).toMatchObject({
      paused: false,
      checkpointBytes: 0,
    });
  });
});
