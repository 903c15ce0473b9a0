import type { Language } from '../domain/languages.js';

/** The magic a session cell installs packages with, per language (docs/packages.md). */
export const INSTALL_MAGIC: Readonly<Record<Language, string>> = Object.freeze({
  python: '%pip install',
  nodejs: '%npm install',
});

/** A cell's install lines, split from the code that follows them. */
export interface CellInstall {
  /** The requirements named on the install lines, in order. */
  requirements: string[];
  /** The rest of the cell (blank when the cell only installs), its line numbers kept. */
  code: string;
}

/**
 * Reads the install lines a cell starts with: `%pip install NAME…` (Python) or `%npm install NAME…`
 * (Node.js), one or more, before any other code. They are the host's to run, through the same install
 * sandbox and package mirror as a request's `packages`, never the interpreter's (which has no way to
 * the index). Each line becomes a blank one so the code keeps its line numbers in tracebacks.
 * Undefined when the cell starts with none. Pure.
 */
export function splitCellInstall(language: Language, code: string): CellInstall | undefined {
  const magic = INSTALL_MAGIC[language];
  const lines = code.split('\n');
  const requirements: string[] = [];
  let seen = false;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('//')) continue;
    if (!line.startsWith(`${magic} `) && line !== magic) break;
    seen = true;
    requirements.push(...line.slice(magic.length).trim().split(/\s+/).filter(Boolean));
    lines[index] = '';
  }
  return seen ? { requirements, code: lines.join('\n') } : undefined;
}
