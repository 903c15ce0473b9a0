import type { Language } from '../domain/languages.js';
import type { Limits } from '../domain/limits.js';
import type { NetworkPolicy } from '../domain/network-policy.js';
import { NotFoundError } from '../errors/service-error.js';
import { ExecutionScheduler } from '../execution/execution-scheduler.js';
import type { CallerIdentity } from '../domain/caller-identity.js';
import type { SessionSandbox } from './session-sandbox.js';

/** Why a session ended; also the `reason` label of code_sandbox_sessions_closed_total. */
export type SessionCloseReason = 'closed' | 'idle' | 'lifetime' | 'oom' | 'crashed' | 'shutdown';

/** Calls that may wait behind the running one in a session; more are refused (RESOURCE_EXHAUSTED). */
export const MAX_WAITING_PER_SESSION = 4;

export interface OpenSessionOptions {
  id: string;
  /** The caller that created it: the only one that may use it. */
  owner: CallerIdentity;
  language: Language;
  limits: Limits;
  /** What every cell may reach, for the session's whole life (NO_EGRESS: nothing). */
  network: NetworkPolicy;
  idleTimeoutMs: number;
  expiresAtMs: number;
  sandbox: SessionSandbox;
  /** Called once when the session ends by itself (idle, lifetime, its sandbox died). */
  onExpire(session: OpenSession, reason: SessionCloseReason): void;
  /**
   * Without a call for this long (and still open), `onIdle` is told once, to pause the session.
   * 0: never. Re-armed after every call.
   */
  pauseAfterMs: number;
  onIdle(session: OpenSession): void;
  /** When the lifetime clock started (adopted sessions keep their original); default now. */
  createdAt?: number;
}

/**
 * One live session: its sandbox, its one-at-a-time queue of calls and its two clocks. The idle clock
 * runs only while no call is running or waiting; the lifetime clock runs from creation.
 */
export class OpenSession {
  readonly createdAt: number;
  /** When its last call ended (or it was created), performance.now(): the least recently used is paused first. */
  lastUsedAt = performance.now();
  private pauseTimer: NodeJS.Timeout | undefined;
  private readonly calls = new ExecutionScheduler(1, MAX_WAITING_PER_SESSION);
  private active = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly lifetimeTimer: NodeJS.Timeout;
  private endReason: SessionCloseReason | undefined;

  constructor(private readonly options: OpenSessionOptions) {
    this.createdAt = options.createdAt ?? Date.now();
    this.lifetimeTimer = setTimeout(
      () => this.expire('lifetime'),
      Math.max(0, options.expiresAtMs - Date.now()),
    );
    this.lifetimeTimer.unref();
    options.sandbox.onEnd((reason) => this.expire(reason));
    this.armIdleTimer();
  }

  get id(): string {
    return this.options.id;
  }
  get owner(): CallerIdentity {
    return this.options.owner;
  }
  get language(): Language {
    return this.options.language;
  }
  get limits(): Limits {
    return this.options.limits;
  }
  get network(): NetworkPolicy {
    return this.options.network;
  }
  get idleTimeoutMs(): number {
    return this.options.idleTimeoutMs;
  }
  get expiresAtMs(): number {
    return this.options.expiresAtMs;
  }
  get sandbox(): SessionSandbox {
    return this.options.sandbox;
  }
  get ended(): SessionCloseReason | undefined {
    return this.endReason;
  }
  /** A call is running or waiting. */
  get busy(): boolean {
    return this.active > 0;
  }
  get paused(): boolean {
    return this.options.sandbox.paused;
  }

  /**
   * Runs `task` like `run`, but as housekeeping (pause, resume for room): it does not count as the
   * caller's use, so neither the idle clock nor the least-recently-used order moves.
   */
  async exclusive<T>(task: () => Promise<T>, signal: AbortSignal): Promise<T> {
    this.checkOpen();
    return this.calls.run(async () => {
      this.checkOpen();
      return task();
    }, signal);
  }

  /**
   * Runs `task` once every earlier call of this session is done, passing how long it waited. A call
   * refused for the queue being full, or cancelled while waiting, never runs.
   */
  async run<T>(task: (waitMs: number) => Promise<T>, signal: AbortSignal): Promise<T> {
    this.checkOpen();
    this.active += 1;
    clearTimeout(this.idleTimer);
    clearTimeout(this.pauseTimer);
    try {
      return await this.calls.run(async (waitMs) => {
        this.checkOpen();
        return task(waitMs);
      }, signal);
    } finally {
      this.active -= 1;
      this.lastUsedAt = performance.now();
      this.armIdleTimer();
    }
  }

  /** Ends the session now (its sandbox is removed in the background). Idempotent. */
  end(reason: SessionCloseReason): boolean {
    if (this.endReason) return false;
    this.endReason = reason;
    this.stopClocks();
    this.options.sandbox.close();
    return true;
  }

  /**
   * Ends the session in this process but leaves its paused sandbox in place for the next process
   * (graceful restart). Only for a paused session.
   */
  release(): boolean {
    if (this.endReason) return false;
    this.endReason = 'shutdown';
    this.stopClocks();
    this.options.sandbox.release();
    return true;
  }

  private stopClocks(): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.pauseTimer);
    clearTimeout(this.lifetimeTimer);
    this.calls.close();
  }

  private expire(reason: SessionCloseReason): void {
    if (this.endReason) return;
    this.options.onExpire(this, reason);
  }

  private armIdleTimer(): void {
    if (this.active > 0 || this.endReason) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.expire('idle'), this.options.idleTimeoutMs);
    this.idleTimer.unref();
    clearTimeout(this.pauseTimer);
    const { pauseAfterMs } = this.options;
    if (pauseAfterMs > 0 && pauseAfterMs < this.options.idleTimeoutMs) {
      this.pauseTimer = setTimeout(() => {
        if (!this.endReason && this.active === 0) this.options.onIdle(this);
      }, pauseAfterMs);
      this.pauseTimer.unref();
    }
  }

  private checkOpen(): void {
    if (this.endReason)
      throw new NotFoundError(`session "${this.id}" has ended (${describeEnd(this.endReason)})`);
  }
}

export function describeEnd(reason: SessionCloseReason): string {
  switch (reason) {
    case 'closed':
      return 'closed';
    case 'idle':
      return 'idle timeout';
    case 'lifetime':
      return 'maximum lifetime reached';
    case 'oom':
      return 'it ran out of memory';
    case 'crashed':
      return 'its sandbox stopped';
    case 'shutdown':
      return 'the server is shutting down';
  }
}
