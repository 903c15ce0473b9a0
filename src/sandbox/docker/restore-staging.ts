import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { restoreContainer, sessionCheckpointDirectory } from './container-checkpoint.js';

/**
 * containerd 1.6 (Debian's, which dockerd runs here) unpacks the checkpoint of every restore into a new
 * `ctrd-checkpoint*` directory in its temporary directory (Tasks.Create: `ioutil.TempDir("",
 * "ctrd-checkpoint")`) and never removes it. Measured here: one directory holding a copy of the
 * checkpoint image per restore, 720 of them and 6.7 GB in /tmp after a day of benchmarks and tests.
 * Once the restore has returned, the sandbox runs from memory and the copy is only disk.
 */
export const STAGING_PREFIX = 'ctrd-checkpoint';
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
    const image = await lstat(join(sessionCheckpointDirectory(dockerRoot, containerId), CHECKPOINT_IMAGE));
    return image.isFile() ? { size: image.size, mtimeSeconds: Math.floor(image.mtimeMs / 1000) } : undefined;
  } catch {
    return undefined;
  }
}

/** The names of containerd's staging directories under `tempDir` now (none when it is not readable). */
async function stagingNames(tempDir: string): Promise<Set<string>> {
  const names = await readdir(tempDir).catch(() => []);
  return new Set(names.filter((name) => name.startsWith(STAGING_PREFIX)));
}

/**
 * Whether this process may remove entries of `tempDir` by name: it is root's, and nobody else can
 * rename things in it (not writable by others, or sticky like /tmp). Elsewhere, a directory swapped in
 * between the check and the removal could lead the removal outside.
 */
async function safeToSweep(tempDir: string): Promise<boolean> {
  const info = await lstat(tempDir).catch(() => undefined);
  if (!info?.isDirectory() || info.uid !== 0) return false;
  const writableByOthers = (info.mode & 0o022) !== 0;
  const sticky = (info.mode & 0o1000) !== 0;
  return !writableByOthers || sticky;
}

/**
 * Removes the staging directories under `tempDir` that hold a copy of the image with `stamp` (among
 * `names` when given: those that appeared during one restore): real directories of containerd's name,
 * owned by root (a link, or another user's look-alike, is left alone). Returns how many it removed.
 */
export async function removeRestoreStaging(
  tempDir: string,
  stamp: CheckpointImageStamp,
  names?: Iterable<string>,
): Promise<number> {
  if (!(await safeToSweep(tempDir))) return 0;
  let removed = 0;
  for (const name of names ?? (await stagingNames(tempDir))) {
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
 * Restores a container from its session checkpoint, then removes the copy containerd left for it,
 * also when the restore failed (containerd unpacks before it tries). Only directories that appeared
 * during this restore and hold this checkpoint's image are candidates, so a copy another restore is
 * still reading is never touched. Resolves with how many copies were removed (0 where the places are
 * not readable from here).
 */
export async function restoreWithoutLeftovers(
  container: Docker.Container,
  places: RestorePlaces,
): Promise<number> {
  const stamp =
    places.dockerRoot === undefined ? undefined : await checkpointImageStamp(places.dockerRoot, container.id);
  const before = stamp ? await stagingNames(places.stagingDir) : new Set<string>();
  let removed = 0;
  try {
    await restoreContainer(container);
  } finally {
    if (stamp) {
      const appeared = [...(await stagingNames(places.stagingDir))].filter((name) => !before.has(name));
      removed = await removeRestoreStaging(places.stagingDir, stamp, appeared);
    }
  }
  return removed;
}
