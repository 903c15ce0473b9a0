import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { INSTANCE_ID_PATTERN } from '../config/environment-schema.js';
import { UnixSocketLiveness } from '../sandbox/lifecycle/unix-socket-liveness.js';
import { SESSION_REGISTRY_SUFFIX, sessionRegistryDirectory } from './wire-session-registry.js';

/**
 * The instance id this start runs under. Paused sessions are recorded per instance id, and an adopted
 * session keeps its id, whose prefix is the instance id. With SANDBOX_INSTANCE_ID set (compose files
 * that set it, the StatefulSet's pod name) that id is used as is. Without it each start used to draw a
 * random id, so a plain restart of the default configuration (`npm start`, compose without the
 * variable) lost every session it had checkpointed. Instead, such a start takes over the id of the
 * newest registry in the work root whose instance is not alive (a graceful stop withdrew it, or it
 * crashed), and adopts that instance's sessions; with none, it keeps its fresh random id. A live
 * instance's id is never taken (its liveness socket answers), so instances sharing a work root stay
 * apart.
 */
export async function resumableInstanceId(config: Config, logger: Logger): Promise<string> {
  if (config.instanceIdFromEnvironment || config.maxSessions === 0) return config.instanceId;
  const directory = sessionRegistryDirectory(config);
  const names = await readdir(directory).catch(() => [] as string[]);
  const candidates: { id: string; modifiedMs: number }[] = [];
  for (const name of names) {
    if (!name.endsWith(SESSION_REGISTRY_SUFFIX)) continue;
    const id = name.slice(0, -SESSION_REGISTRY_SUFFIX.length);
    if (!INSTANCE_ID_PATTERN.test(id)) continue; // a file name is taken only if it is an id
    const info = await stat(join(directory, name)).catch(() => undefined);
    if (info?.isFile()) candidates.push({ id, modifiedMs: info.mtimeMs });
  }
  candidates.sort((a, b) => b.modifiedMs - a.modifiedMs);
  const liveness = new UnixSocketLiveness({
    directory: join(config.workRoot, 'instances'),
    instanceId: config.instanceId,
  });
  for (const { id } of candidates) {
    if ((await liveness.state(id)) === 'alive') continue;
    logger.info(
      { instanceId: id },
      'SANDBOX_INSTANCE_ID is unset: taking over the id of a stopped instance that recorded sessions in this work root',
    );
    return id;
  }
  return config.instanceId;
}
