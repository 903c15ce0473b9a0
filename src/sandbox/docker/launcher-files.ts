import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Copies the launcher scripts (sandbox-runtime/) into the work root, under a directory named after
 * their content hash, and returns it. Sandboxes mount it read-only. Copying (rather than mounting the
 * package directory) keeps one path convention for everything dockerd mounts: under the work root,
 * which is also what a containerised service shares with the host. Content-addressed, so instances of
 * different versions sharing a work root never see each other's launchers change under them.
 */
export async function installLauncherFiles(sourceDir: string, workRoot: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await listFiles(sourceDir)) {
    hash
      .update(file)
      .update('\0')
      .update(await readFile(join(sourceDir, file)));
  }
  const target = join(workRoot, `runtime-${hash.digest('hex').slice(0, 16)}`);
  const staging = `${target}.${process.pid}.tmp`;
  await mkdir(workRoot, { recursive: true, mode: 0o755 });
  await rm(staging, { recursive: true, force: true });
  await cp(sourceDir, staging, { recursive: true });
  try {
    await rename(staging, target);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    // Another instance installed the same content first: theirs is identical. Anything else is real.
    if (!existsSync(target)) throw error;
  }
  return target;
}

async function listFiles(directory: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(join(directory, prefix), { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const relative = join(prefix, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(directory, relative)));
    else files.push(relative);
  }
  return files;
}
