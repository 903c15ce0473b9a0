import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSandboxImages, SANDBOX_IMAGES_FILE } from '../../src/config/sandbox-images.js';
import { LANGUAGES } from '../../src/domain/languages.js';
import { packageRoot } from '../../src/config/package-root.js';

const ROOT = packageRoot();
const IMAGES = readSandboxImages();
/** Not part of the repository's own text: dependencies, build output, git's store. */
const SKIPPED_DIRECTORIES = new Set(['node_modules', '.git', 'dist', 'coverage']);
/**
 * The one tag a file may name besides the real ones: a test that needs an image dockerd does not
 * have names `:missing`, which no build produces.
 */
const FAKE_TAG = 'missing';
const MENTION = /code-sandbox-(python|nodejs):([\w.-]+)/g;

function repositoryFiles(directory = ROOT): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return SKIPPED_DIRECTORIES.has(entry.name) ? [] : repositoryFiles(path);
    return entry.isFile() ? [relative(ROOT, path)] : [];
  });
}

/** Every `code-sandbox-<language>:<tag>` in the repository, as "file: image". */
function mentions(): { file: string; image: string; language: string; tag: string }[] {
  return repositoryFiles().flatMap((file) =>
    [...readFileSync(join(ROOT, file), 'latin1').matchAll(MENTION)].map((match) => ({
      file,
      image: match[0],
      language: match[1]!,
      tag: match[2]!,
    })),
  );
}

describe(`sandbox image names (defined once, in ${SANDBOX_IMAGES_FILE})`, () => {
  it('names one image per language there', () => {
    expect(Object.keys(IMAGES).sort()).toEqual([...LANGUAGES].sort());
  });

  it(`names no other tag anywhere in the repository (but :${FAKE_TAG} for a missing image)`, () => {
    const found = mentions();
    expect(found.length).toBeGreaterThan(10);
    const drifted = found.filter(
      (mention) =>
        mention.tag !== FAKE_TAG && mention.image !== IMAGES[mention.language as keyof typeof IMAGES],
    );
    expect(drifted.map((mention) => `${mention.file}: ${mention.image}`)).toEqual([]);
  });

  it('leaves the service code to read them: no image name in src/', () => {
    expect(mentions().filter((mention) => mention.file.startsWith('src/'))).toEqual([]);
  });

  it.each([
    '.env.example',
    'docker-compose.yml',
    'deploy/ragflow/docker-compose.override.yml',
    'deploy/kubernetes/configmap.yaml',
    'docs/configuration.md',
    'docs/operating.md',
  ])('%s names both images (so the check above covers it)', (file) => {
    const named = new Set(
      mentions()
        .filter((mention) => mention.file === file)
        .map((mention) => mention.image),
    );
    expect([...named].sort()).toEqual(Object.values(IMAGES).sort());
  });
});
