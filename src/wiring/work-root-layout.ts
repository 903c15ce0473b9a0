import { join } from 'node:path';
import type { Config } from '../config/config.js';

/**
 * Where sandbox job directories live under the work root: one directory per instance, so instances
 * sharing a work root never touch each other's jobs (the reaper reads every instance's).
 */
export function jobsRootOfAllInstances(config: Pick<Config, 'workRoot'>): string {
  return join(config.workRoot, 'jobs');
}

/** This instance's job directories: every sandbox and install it starts gets one below it. */
export function jobsRootOfThisInstance(config: Pick<Config, 'workRoot' | 'instanceId'>): string {
  return join(jobsRootOfAllInstances(config), config.instanceId);
}
