import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { SessionRegistryFile } from '../session/session-registry.js';

/** A registry's file name is its instance id with this suffix. */
export const SESSION_REGISTRY_SUFFIX = '.json';

/**
 * Where instances record their paused sessions: in the work root but outside `jobs/` (the only part
 * mounted into sandboxes, one job directory each) and outside `instances/` (liveness sockets).
 */
export function sessionRegistryDirectory(config: Config): string {
  return join(config.workRoot, 'sessions');
}

/** This instance's registry; undefined when sessions are off. */
export function wireSessionRegistry(config: Config): SessionRegistryFile | undefined {
  if (config.maxSessions === 0) return undefined;
  return new SessionRegistryFile(
    join(sessionRegistryDirectory(config), `${config.instanceId}${SESSION_REGISTRY_SUFFIX}`),
    config.instanceId,
  );
}
