import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LANGUAGES, type Language } from '../domain/languages.js';
import { packageRoot } from './package-root.js';
import { parseSandboxImagePackages } from './sandbox-image-packages.js';

/**
 * scripts/sandbox-images.conf, relative to the package root: the one definition of each sandbox
 * image's name and tag. Setup builds what it lists; the service's defaults are read from it; files
 * that cannot read it (compose files, the Kubernetes ConfigMap, docs/) are checked against it by
 * test/unit/sandbox-images.test.ts.
 */
export const SANDBOX_IMAGES_FILE = 'scripts/sandbox-images.conf';

/** The image repository of a language's sandbox image: `code-sandbox-<language>`. */
export function sandboxImageRepository(language: Language): string {
  return `code-sandbox-${language}`;
}

/**
 * Each language's sandbox image as sandbox-images.conf names it (lines `NAME PACKAGES`, `#` comments).
 * Throws when the file is missing or lacks a language, so a broken install stops at start instead
 * of running with images setup never built.
 */
export function readSandboxImages(root: string = packageRoot()): Readonly<Record<Language, string>> {
  const names = [...parseSandboxImagePackages(readFileSync(join(root, SANDBOX_IMAGES_FILE), 'utf8')).keys()];
  const images = {} as Record<Language, string>;
  for (const language of LANGUAGES) {
    const prefix = `${sandboxImageRepository(language)}:`;
    const matching = names.filter((name) => name.startsWith(prefix));
    if (matching.length !== 1) {
      throw new Error(
        `${SANDBOX_IMAGES_FILE} must name exactly one ${prefix}TAG image; it names ${matching.length}`,
      );
    }
    images[language] = matching[0]!;
  }
  return Object.freeze(images);
}
