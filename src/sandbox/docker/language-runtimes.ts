import type { Language } from '../../domain/languages.js';
import { SANDBOX_RUNTIME_DIR } from './container-spec.js';

/** How each language is started inside its sandbox image. */
export interface LanguageRuntime {
  /** PID 1 of the container: the launcher that boots the program process and relays its output. */
  launcher: string[];
  /** File name the program is written to in the job directory. */
  entryFile: string;
  /** PID 1 of a session container: the launcher that runs the language's stateful interpreter. */
  sessionLauncher: string[];
  /**
   * How the host reaches a session restored from a checkpoint: a relay to the launcher's bridge socket,
   * started with `docker exec`. None: over the container's own restored stdin and stdout.
   */
  sessionBridge?: string[];
}

export const LANGUAGE_RUNTIMES: Readonly<Record<Language, LanguageRuntime>> = Object.freeze({
  python: {
    // -I: ignore PYTHON* env and user site dirs; -S: the launcher needs no site-packages.
    launcher: ['python3', '-I', '-S', `${SANDBOX_RUNTIME_DIR}/python/launcher.py`],
    entryFile: 'main.py',
    // Without -S: the kernel's client (jupyter_client) lives in the system site-packages. "ipc": the
    // kernel's sockets are unix sockets in /tmp, so nothing depends on loopback TCP in the sandbox.
    sessionLauncher: ['python3', '-I', `${SANDBOX_RUNTIME_DIR}/python/session_launcher.py`, 'ipc'],
  },
  nodejs: {
    // The launcher only relays bytes: without a JIT it boots for less (measured in runsc: `node -e 0`
    // 0.42 → 0.38 CPU-s), and one V8 worker thread, not four (each costs milliseconds to create
    // under gVisor's ptrace platform). The program process sets its own (node/launcher-program.js).
    launcher: [
      'node',
      '--jitless',
      '--no-expose-wasm', // implied by --jitless; said, so node does not warn on every start
      '--v8-pool-size=1',
      `${SANDBOX_RUNTIME_DIR}/node/launcher.js`,
    ],
    entryFile: 'main.js',
    sessionLauncher: ['node', `${SANDBOX_RUNTIME_DIR}/node/session-launcher.js`],
    // Measured here: a restored Node.js launcher's own stdio answered in only about half of the restores
    // (docs/sessions.md), an exec'd bridge in 24 of 24. The Python launcher's did in every one measured.
    sessionBridge: ['node', '--jitless', `${SANDBOX_RUNTIME_DIR}/node/session-bridge.js`],
  },
});

/**
 * The container command: the one-shot launcher, told which modules its program process preloads, or
 * the session launcher.
 */
export function launcherCommand(language: Language, preload: readonly string[], session = false): string[] {
  if (session) return [...LANGUAGE_RUNTIMES[language].sessionLauncher];
  return [...LANGUAGE_RUNTIMES[language].launcher, preload.join(',')];
}
