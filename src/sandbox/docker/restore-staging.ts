import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { restoreContainer, SESSION_CHECKPOINT } from './container-checkpoint.js';

/**
 * containerd 1.6 (Debian's, which dockerd runs here) unpacks the checkpoint of every restore into a new
 * `ctrd-checkpoint*` directory in its temporary directory (Tasks.Create: `ioutil.TempDir("",
 * "ctrd-checkpoint")`) and never removes it. Measured here: one directory holding a copy of the
 * checkpoint image per restore, 720 of them and 6.7 GB in /tmp after a day of benchmarks and tests.
 * Once the restore has returned, the sandbox runs from memory and the copy is only disk.
 */
const STAGING_PREFIX = 'ctrd-checkpoint';
/** runsc's checkpoint is one file (its state image), in Docker's checkpoint directory and in the copy. */
const CHECKPOINT_IMAGE = 'checkpoint.img';

/** What tells a checkpoint image's copy apart: its size and its modification time (a tar keeps both, to the second). */
export interface CheckpointImageStamp {
  size: number;
  mtimeSeconds: number;
}

/** The stamp of a container's session checkpoint image in Docker's data root; undefined when unreadable. */
export async function checkpointImageStamp(
  dockerRoot: string,
  containerId: string,
): Promise<CheckpointImageStamp | undefined> {
  try {
    const image = await lstat(
      join(dockerRoot, 'containers', containerId, 'checkpoints', SESSION_CHECKPOINT, CHECKPOINT_IMAGE),
    );
    return image.isFile() ? { size: image.size, mtimeSeconds: Math.floor(image.mtimeMs / 1000) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the staging directories under `tempDir` that hold a copy of the image with `stamp`: real
 * directories of containerd's name, owned by root (a link, or another user's look-alike, is left
 * alone). Returns how many it removed.
 */
export async function removeRestoreStaging(tempDir: string, stamp: CheckpointImageStamp): Promise<number> {
  let removed = 0;
  for (const name of await readdir(tempDir).catch(() => [])) {
    if (!name.startsWith(STAGING_PREFIX)) continue;
    const directory = join(tempDir, name);
    try {
      const info = await lstat(directory);
      if (!info.isDirectory() || info.uid !== 0) continue;
      const image = await lstat(join(directory, CHECKPOINT_IMAGE));
      if (!image.isFile() || image.size !== stamp.size) continue;
      if (Math.floor(image.mtimeMs / 1000) !== stamp.mtimeSeconds) continue;
      await rm(directory, { recursive: true, force: true });
      removed += 1;
    } catch {
      // gone meanwhile, or not containerd's
    }
  }
  return removed;
}

/** Where Docker's checkpoints and containerd's restore copies can be read from this process. */
export interface RestorePlaces {
  /** Docker's data root when readable from here; undefined otherwise (nothing is swept then). */
  dockerRoot: string | undefined;
  /** containerd's temporary directory as seen from here (SANDBOX_CHECKPOINT_STAGING_DIR). */
  stagingDir: string;
}

/**
 * Restores a container from its session checkpoint, then removes the copy containerd left for it.
 * Resolves with how many copies were removed (0 where the places are not readable from here).
 */
export async function restoreWithoutLeftovers(
  container: Docker.Container,
  places: RestorePlaces,
): Promise<number> {
  const stamp =
    places.dockerRoot === undefined ? undefined : await checkpointImageStamp(places.dockerRoot, container.id);
  await restoreContainer(container);
  return stamp ? removeRestoreStaging(places.stagingDir, stamp) : 0;
}
