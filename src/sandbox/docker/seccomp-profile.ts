import { readFile } from 'node:fs/promises';

/**
 * Reads a seccomp profile (Docker's JSON format) and returns it compact, as Docker's API wants it in
 * SecurityOpt. Rejects when the file is missing or is not a profile, so a broken install stops the
 * service at start instead of running sandboxes without the filter the operator asked for.
 */
export async function loadSeccompProfile(path: string): Promise<string> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as { defaultAction?: unknown; syscalls?: unknown };
  if (typeof profile.defaultAction !== 'string' || !Array.isArray(profile.syscalls)) {
    throw new Error(`${path} is not a seccomp profile (no defaultAction or syscalls)`);
  }
  return JSON.stringify(profile);
}
