import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { InputFile } from '../domain/execution-request.js';

/** What the launcher reads from the (read-only) job directory. */
export interface JobFiles {
  /** File name of the program inside the job dir, e.g. "main.py". */
  entry: string;
  code: string;
  stdin: Buffer;
  files: InputFile[];
}

/**
 * Writes one execution's job directory on the host: the program, its stdin, its input files under
 * files/, and job.json telling the launcher what is where. Paths were validated (relative, no "..")
 * before they get here. World-readable because the sandbox user is "nobody".
 */
export async function writeJobDirectory(directory: string, job: JobFiles): Promise<void> {
  await mkdir(join(directory, 'files'), { recursive: true, mode: 0o755 });
  await writeFile(join(directory, job.entry), job.code, { mode: 0o644 });
  await writeFile(join(directory, 'stdin'), job.stdin, { mode: 0o644 });
  for (const file of job.files) {
    const target = join(directory, 'files', file.path);
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await writeFile(target, file.content, { mode: 0o644 });
  }
  const manifest = { entry: job.entry, files: job.files.map((file) => file.path) };
  await writeFile(join(directory, 'job.json'), JSON.stringify(manifest), { mode: 0o644 });
}

export async function removeJobDirectory(directory: string): Promise<void> {
  await rm(directory, { recursive: true, force: true });
}
