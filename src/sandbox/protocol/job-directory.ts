import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Entrypoint, InputFile } from '../../domain/execution-request.js';
import { SANDBOX_PROTOCOL, type JobManifest } from './sandbox-protocol.js';

/** What the launcher reads from the (read-only) job directory. */
export interface JobFiles {
  /** File name of the program inside the job dir, e.g. "main.py". */
  entry: string;
  code: string;
  stdin: Buffer;
  files: InputFile[];
  entrypoint: Entrypoint;
  argumentsJson: string;
  /** Caps the launcher applies to artifacts/ (the host checks them again). */
  artifacts: { maxCount: number; maxBytes: number };
  maxReturnValueBytes: number;
}

/**
 * Writes one execution's job directory on the host: the program, its stdin, main()'s arguments, its
 * input files, and the manifest telling the launcher what is where and what to do (file names and
 * manifest fields from sandbox-runtime/protocol.json). Paths were validated (relative, no "..", not
 * reserved) before they get here. World-readable because the sandbox user is "nobody".
 */
export async function writeJobDirectory(directory: string, job: JobFiles): Promise<void> {
  const { paths } = SANDBOX_PROTOCOL;
  const manifest: JobManifest = {
    entry: job.entry,
    files: job.files.map((file) => file.path),
    mode: job.entrypoint,
    artifacts: { max_count: job.artifacts.maxCount, max_bytes: job.artifacts.maxBytes },
    max_result_bytes: job.maxReturnValueBytes,
  };
  const filesDir = join(directory, paths.input_files_dir);
  await mkdir(filesDir, { recursive: true, mode: 0o755 }); // the job directory too, when it is new
  // The rest all at once: this is on every call's path before the program starts, and the launcher
  // reads none of it before the start line, which is written only after every write here completed.
  await Promise.all([
    writeFile(join(directory, job.entry), job.code, { mode: 0o644 }),
    writeFile(join(directory, paths.stdin), job.stdin, { mode: 0o644 }),
    writeFile(join(directory, paths.arguments), job.argumentsJson, { mode: 0o644 }),
    writeFile(join(directory, paths.manifest), JSON.stringify(manifest), { mode: 0o644 }),
    writeInputFiles(filesDir, job.files),
  ]);
}

async function writeInputFiles(filesDir: string, files: readonly InputFile[]): Promise<void> {
  for (const file of files) {
    const target = join(filesDir, file.path);
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await writeFile(target, file.content, { mode: 0o644 });
  }
}

export async function removeJobDirectory(directory: string): Promise<void> {
  await rm(directory, { recursive: true, force: true });
}
