import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointImageStamp, removeRestoreStaging } from '../../src/sandbox/docker/restore-staging.js';

const roots: string[] = [];
function scratch(): string {
  const root = mkdtempSync(join(tmpdir(), 'restore-staging-'));
  roots.push(root);
  return root;
}

/** A checkpoint.img of `size` bytes in `directory`, last modified at `seconds` (and a fraction). */
function image(directory: string, size: number, seconds: number): void {
  mkdirSync(directory, { recursive: true });
  const file = join(directory, 'checkpoint.img');
  writeFileSync(file, Buffer.alloc(size));
  utimesSync(file, seconds + 0.4, seconds + 0.4);
}

afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

describe('containerd restore copies', () => {
  it("stamps a container's session checkpoint image by size and whole second", async () => {
    const dockerRoot = scratch();
    image(join(dockerRoot, 'containers', 'abc', 'checkpoints', 'session'), 1234, 1_800_000_000);
    expect(await checkpointImageStamp(dockerRoot, 'abc')).toEqual({
      size: 1234,
      mtimeSeconds: 1_800_000_000,
    });
    expect(await checkpointImageStamp(dockerRoot, 'missing')).toBeUndefined();
  });

  it.skipIf(process.getuid?.() !== 0)(
    'removes only the copies of that image: containerd-named directories of root, not links, not others',
    async () => {
      const temp = scratch();
      const elsewhere = scratch();
      const stamp = { size: 1234, mtimeSeconds: 1_800_000_000 };
      image(join(temp, 'ctrd-checkpoint111'), 1234, 1_800_000_000); // this restore's copy
      image(join(temp, 'ctrd-checkpoint222'), 1235, 1_800_000_000); // another checkpoint's
      image(join(temp, 'ctrd-checkpoint333'), 1234, 1_800_000_001); // same size, another time
      image(join(temp, 'not-containerd'), 1234, 1_800_000_000); // same image, not containerd's name
      image(join(elsewhere, 'target'), 1234, 1_800_000_000);
      symlinkSync(join(elsewhere, 'target'), join(temp, 'ctrd-checkpoint444')); // a link is never followed

      expect(await removeRestoreStaging(temp, stamp)).toBe(1);
      expect(existsSync(join(temp, 'ctrd-checkpoint111'))).toBe(false);
      for (const kept of ['ctrd-checkpoint222', 'ctrd-checkpoint333', 'not-containerd', 'ctrd-checkpoint444'])
        expect(existsSync(join(temp, kept))).toBe(true);
      expect(existsSync(join(elsewhere, 'target', 'checkpoint.img'))).toBe(true);
      // A directory that is not readable from here is nothing to remove.
      expect(await removeRestoreStaging(join(temp, 'absent'), stamp)).toBe(0);
      // Only among the names given (those that appeared during one restore).
      image(join(temp, 'ctrd-checkpoint555'), 1234, 1_800_000_000);
      expect(await removeRestoreStaging(temp, stamp, ['ctrd-checkpoint222'])).toBe(0);
      expect(existsSync(join(temp, 'ctrd-checkpoint555'))).toBe(true);
      // Not in a directory that others could rename things in (writable by all, not sticky).
      chmodSync(temp, 0o777);
      expect(await removeRestoreStaging(temp, stamp)).toBe(0);
      chmodSync(temp, 0o1777);
      expect(await removeRestoreStaging(temp, stamp)).toBe(1);
    },
  );
});
