import { access, readdir, stat } from 'node:fs/promises';
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
 * Docker 20.10 with containerd 1.6, measured here: a restore right after the container stopped fails
 * with "id already in use" (containerd still holds the stopped task for a moment), and a checkpoint
 * can fail with "content sha256:…: already exists" when an identical blob of an earlier checkpoint
 * is still in containerd's content store (it is collected a little later). Both pass on a retry.
 */
const TRANSIENT = /id already in use|already exists/i;
const ATTEMPTS = 10;
const RETRY_DELAY_MS = 300;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Checkpoints a running container (gVisor saves the whole sandbox: processes, memory, tmpfs) and stops
 * it, so it holds no memory. Needs dockerd with `"experimental": true`. Resolves once the checkpoint
 * is on disk and the container stopped; rejects with the container still running when it could not
 * be taken (and "gone" when the container stopped without a checkpoint).
 */
export async function checkpointContainer(container: Docker.Container): Promise<void> {
  // A stale checkpoint of the same name (a resume that failed half-way) would make create fail.
  await deleteCheckpoint(container);
  for (let attempt = 1; ; attempt++) {
    try {
      await checkpointing(container).createCheckpoint({ checkpointId: SESSION_CHECKPOINT, exit: true });
      return;
    } catch (error) {
      const running = (await container.inspect()).State.Running;
      // Written, then the copy out of containerd failed late: what is on disk is what counts.
      if (!running && (await hasCheckpoint(container))) return;
      if (!running || attempt >= ATTEMPTS || !TRANSIENT.test(String((error as Error).message))) throw error;
      await pause(RETRY_DELAY_MS * attempt);
    }
  }
}

/**
 * Starts a checkpointed container from its checkpoint. `_body: {}` keeps dockerode from sending the
 * options as a JSON body, which Docker refuses on start ("non-empty request body").
 */
export async function restoreContainer(container: Docker.Container): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await checkpointing(container).start({ _query: { checkpoint: SESSION_CHECKPOINT }, _body: {} });
      return;
    } catch (error) {
      if (attempt >= ATTEMPTS || !TRANSIENT.test(String((error as Error).message))) throw error;
      await pause(RETRY_DELAY_MS * attempt);
    }
  }
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

/** Where Docker keeps a container's session checkpoint, under its data root. */
export function sessionCheckpointDirectory(dockerRoot: string, containerId: string): string {
  return join(dockerRoot, 'containers', containerId, 'checkpoints', SESSION_CHECKPOINT);
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
    return await directoryBytes(sessionCheckpointDirectory(dockerRoot, containerId));
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

/** Docker's data root, when this process can read its checkpoints (it runs beside dockerd). */
export function readableDockerRoot(docker: Docker): Promise<string | undefined> {
  return docker
    .info()
    .then(async (info: { DockerRootDir?: string }) => {
      const root = info.DockerRootDir;
      if (root === undefined) return undefined;
      await access(join(root, 'containers'));
      return root;
    })
    .catch(() => undefined);
}
