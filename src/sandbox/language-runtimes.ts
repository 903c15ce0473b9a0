import type { Language } from '../domain/languages.js';
import { SANDBOX_RUNTIME_DIR } from './container-spec.js';

/** How each language is started inside its sandbox image. */
export interface LanguageRuntime {
  /** PID 1 of the container: the launcher that boots the program process and relays its output. */
  launcher: string[];
  /** File name the program is written to in the job directory. */
  entryFile: string;
}

export const LANGUAGE_RUNTIMES: Readonly<Record<Language, LanguageRuntime>> = Object.freeze({
  python: {
    // -I: ignore PYTHON* env and user site dirs; -S: the launcher needs no site-packages.
    launcher: ['python3', '-I', '-S', `${SANDBOX_RUNTIME_DIR}/python/launcher.py`],
    entryFile: 'main.py',
  },
  nodejs: {
    launcher: ['node', `${SANDBOX_RUNTIME_DIR}/node/launcher.js`],
    entryFile: 'main.js',
  },
});

/** The container command: the launcher, told which modules its program process preloads. */
export function launcherCommand(language: Language, preload: readonly string[]): string[] {
  return [...LANGUAGE_RUNTIMES[language].launcher, preload.join(',')];
}
