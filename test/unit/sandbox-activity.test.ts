import { describe, expect, it } from 'vitest';
import { SandboxActivity } from '../../src/sandbox/lifecycle/sandbox-activity.js';

describe('SandboxActivity', () => {
  it('is busy while an execution or a pool start is in progress', () => {
    const activity = new SandboxActivity();
    expect(activity.busy).toBe(false);
    const execution = activity.executionBegan();
    const start = activity.startBegan();
    expect([activity.executionsInProgress, activity.startsInProgress, activity.busy]).toEqual([1, 1, true]);
    execution();
    expect(activity.busy).toBe(true);
    start();
    expect(activity.busy).toBe(false);
  });

  it('counts each end once, however often it is reported', () => {
    const activity = new SandboxActivity();
    const first = activity.executionBegan();
    activity.executionBegan();
    first();
    first();
    expect(activity.executionsInProgress).toBe(1);
  });
});
