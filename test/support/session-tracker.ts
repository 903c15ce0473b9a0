import { expect } from 'vitest';
import { unaryGrpc, type TestApp } from './test-app.js';

/**
 * Creates sessions over gRPC and remembers them, so a suite's afterEach can close every one even when
 * a test failed (the next test then finds a free session slot).
 */
export class SessionTracker {
  private readonly opened: string[] = [];

  constructor(private readonly app: () => TestApp) {}

  /** A new session of `language`; the call must succeed. */
  async create(language: string): Promise<string> {
    const { response, error } = await unaryGrpc(this.app().grpc, 'CreateSession', { language });
    expect(error).toBeUndefined();
    const sessionId = response!.session_id as string;
    this.opened.push(sessionId);
    return sessionId;
  }

  /** Closes every session created since the last call. */
  async closeAll(): Promise<void> {
    for (const sessionId of this.opened.splice(0))
      await unaryGrpc(this.app().grpc, 'CloseSession', { session_id: sessionId });
  }
}
