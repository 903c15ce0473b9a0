import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { SessionRegistryFile } from '../session/session-registry.js';

/**
 * Where this instance records its paused sessions: in the work root but outside `jobs/` (the only
 * part mounted into sandboxes, one job directory each) and outside `instances/` (liveness sockets).
 */
export function wireSessionRegistry(config: Config): SessionRegistryFile | undefined {
  if (config.maxSessions === 0) return undefined;
  return new SessionRegistryFile(
    join(config.workRoot, 'sessions', `${config.instanceId}.json`),
    config.instanceId,
  );
}
