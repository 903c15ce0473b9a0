import { describe, expect, it } from 'vitest';
import { pauseRefusal, sessionToPauseForRoom } from '../../src/session/session-capacity.js';

const MiB = 1 << 20;

describe('pauseRefusal', () => {
  const bounds = { maxPaused: 2, checkpointBudgetBytes: 100 * MiB };
  it('allows a pause within both bounds', () => {
    expect(pauseRefusal({ count: 1, bytes: 40 * MiB }, bounds, 60 * MiB)).toBeUndefined();
  });
  it('refuses at the count bound, naming its variable', () => {
    expect(pauseRefusal({ count: 2, bytes: 0 }, bounds, MiB)).toContain('SANDBOX_MAX_PAUSED_SESSIONS');
  });
  it('refuses when the estimate would pass the byte budget, naming its variable', () => {
    expect(pauseRefusal({ count: 0, bytes: 50 * MiB }, bounds, 51 * MiB)).toContain(
      'SANDBOX_SESSION_CHECKPOINT_BUDGET_BYTES',
    );
  });
  it('a bound of 0 paused sessions refuses every pause', () => {
    expect(pauseRefusal({ count: 0, bytes: 0 }, { ...bounds, maxPaused: 0 }, 1)).toBeDefined();
  });
});

describe('sessionToPauseForRoom', () => {
  const session = (id: string, lastUsedAt: number, busy = false, paused = false) => ({
    id,
    lastUsedAt,
    busy,
    paused,
  });
  it('picks the least recently used running session without a call in progress', () => {
    const sessions = [
      session('a', 30),
      session('b', 10, true),
      session('c', 20),
      session('d', 5, false, true),
    ];
    expect(sessionToPauseForRoom(sessions)?.id).toBe('c');
  });
  it('never the one that needs the room', () => {
    expect(sessionToPauseForRoom([session('a', 1), session('b', 2)], 'a')?.id).toBe('b');
  });
  it('none when every running session is busy or paused', () => {
    expect(sessionToPauseForRoom([session('a', 1, true), session('b', 2, false, true)])).toBeUndefined();
  });
});
