import type { Language } from './languages.js';

/**
 * A project name as indexes compare them. Python: PEP 503 (lower-case, every run of "-", "_", "."
 * becomes one "-"), so `PyMySQL`, `pymysql` and `py_mysql`… are judged alike. npm: lower-case (the
 * registry refuses upper-case names for new packages; old ones are matched case-insensitively).
 */
export function normalizePackageName(language: Language, name: string): string {
  const lower = name.toLowerCase();
  return language === 'python' ? lower.replace(/[-_.]+/g, '-') : lower;
}

interface AllowRule {
  language: Language;
  /** Normalised name, or a pattern whose "*" matches any run of characters. */
  pattern: RegExp;
}

/**
 * The operator's package allowlist (SANDBOX_PACKAGES_ALLOW): `python:NAME`, `nodejs:NAME`, with "*"
 * as a wildcard (`python:django-*`, `nodejs:@types/*`, `python:*` for the whole index). It judges
 * every project the installer asks the package mirror for, dependencies included: an allowed package
 * whose dependency is not listed fails to install (docs/packages.md says why).
 */
export class PackageAllowList {
  private constructor(private readonly rules: readonly AllowRule[]) {}

  /** Parses the comma-separated entries; `problems` names each unreadable one. */
  static parse(entries: readonly string[]): { list: PackageAllowList; problems: string[] } {
    const problems: string[] = [];
    const rules: AllowRule[] = [];
    for (const entry of entries) {
      const match = /^(python|nodejs):([A-Za-z0-9@/._*~-]+)$/.exec(entry);
      if (!match) {
        problems.push(`"${entry}" is not LANGUAGE:NAME (python:tabulate, nodejs:lodash, python:django-*)`);
        continue;
      }
      const language = match[1] as Language;
      const normalised = normalizePackageName(language, match[2]!);
      const source = normalised
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
        .join('.*');
      rules.push({ language, pattern: new RegExp(`^${source}$`) });
    }
    return { list: new PackageAllowList(rules), problems };
  }

  /** No entry at all: installing is off. */
  isEmpty(): boolean {
    return this.rules.length === 0;
  }

  /** Whether `name` (normalised, see normalizePackageName) of `language` may be installed. */
  allows(language: Language, name: string): boolean {
    return this.rules.some((rule) => rule.language === language && rule.pattern.test(name));
  }
}
