import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';

/**
 * The one checkpoint a paused session container has. Docker keeps it in the container's own directory
 * (this Docker refuses a custom checkpoint directory at start), so removing the container removes it.
 */
export const SESSION_CHECKPOINT = 'session';

/**
 * dockerode has these (lib/container.js) but its type definitions do not; `start` there sends options
 * that have `_query` as the query string and `_body` as the body.
 */
interface CheckpointingContainer {
  createCheckpoint(options: { checkpointId: string; exit: boolean }): Promise<unknown>;
  listCheckpoint(): Promise<{ Name: string }[] | null>;
  deleteCheckpoint(name: string): Promise<unknown>;
  start(options: { _query: Record<string, string>; _body: Record<string, never> }): Promise<unknown>;
}

function checkpointing(container: Docker.Container): CheckpointingContainer {
  return container as unknown as CheckpointingContainer;
}

/**
 * Checkpoints a running container (gVisor saves the whole sandbox: processes, memory, tmpfs) and stops
 * it, so it holds no memory. Needs dockerd with `"experimental": true`.
 */
export async function checkpointContainer(container: Docker.Container): Promise<void> {
  // A stale checkpoint of the same name (a resume that failed half-way) would make create fail.
  await deleteCheckpoint(container);
  await checkpointing(container).createCheckpoint({ checkpointId: SESSION_CHECKPOINT, exit: true });
}

/**
 * Starts a checkpointed container from its checkpoint. `_body: {}` keeps dockerode from sending the
 * options as a JSON body, which Docker refuses on start ("non-empty request body").
 */
export async function restoreContainer(container: Docker.Container): Promise<void> {
  await checkpointing(container).start({ _query: { checkpoint: SESSION_CHECKPOINT }, _body: {} });
}

/** Whether the container has its session checkpoint. */
export async function hasCheckpoint(container: Docker.Container): Promise<boolean> {
  const checkpoints = await checkpointing(container).listCheckpoint();
  return (checkpoints ?? []).some((checkpoint) => checkpoint.Name === SESSION_CHECKPOINT);
}

/** Removes the session checkpoint if there is one (after a resume it is stale and only takes disk). */
export async function deleteCheckpoint(container: Docker.Container): Promise<void> {
  try {
    await checkpointing(container).deleteCheckpoint(SESSION_CHECKPOINT);
  } catch (error) {
    const statusCode = (error as { statusCode?: number }).statusCode;
    if (statusCode !== 404) {
      // Docker 20.10 answers 500 "no such file" for a checkpoint that does not exist.
      const message = String((error as { message?: string }).message ?? '');
      if (!/no such file|not found|does not exist/i.test(message)) throw error;
    }
  }
}

/**
 * Bytes the container's session checkpoint takes on disk, read from Docker's data root when this
 * process can see it (it runs beside dockerd); undefined when it cannot.
 */
export async function checkpointBytes(
  dockerRoot: string | undefined,
  containerId: string,
): Promise<number | undefined> {
  if (dockerRoot === undefined) return undefined;
  try {
    return await directoryBytes(
      join(dockerRoot, 'containers', containerId, 'checkpoints', SESSION_CHECKPOINT),
    );
  } catch {
    return undefined;
  }
}

async function directoryBytes(directory: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}
