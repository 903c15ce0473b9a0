import { InvalidArgumentError } from '../errors/service-error.js';
import type { Language } from './languages.js';
import { normalizePackageName, type PackageAllowList } from './package-allow-list.js';

/**
 * One requirement a request asks to install. Python: a PEP 508 name with an optional version
 * specifier (`pymysql==1.1.1`, `tabulate`, `requests>=2,<3`); Node.js: `name` or `name@version`
 * (`lodash@4.17.21`, `@scope/pkg@^1.2.0`). Nothing else: no URLs, paths, extras, markers or
 * installer options, so a requirement can only ever name a project on the operator's index.
 */
export interface PackageSpec {
  /** The requirement exactly as the installer is given it. */
  requirement: string;
  /** The project name, normalised (PEP 503 for Python, lower-case for npm): what the allowlist judges. */
  name: string;
}

/** Packages a request asks for, by language (only the request's own language is installed). */
export type PackageRequestInput = Partial<Record<Language, string[]>>;

/** Limits on what one request may install (from the configuration). */
export interface PackagePolicy {
  allow: PackageAllowList;
  /** Most requirements per request. */
  maxCount: number;
  /** Languages whose index the operator named (SANDBOX_PYPI_INDEX_URL, SANDBOX_NPM_REGISTRY_URL). */
  languages: readonly Language[];
}

const MAX_REQUIREMENT_BYTES = 200;
// PEP 508 names: letters, digits, ".", "_", "-", starting and ending with a letter or digit.
const PYTHON_NAME = '[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?';
// PEP 440 specifier clauses, e.g. "==1.1.1", ">=2,<3", "~=1.4". Versions: digits, letters, ".", "*", "+", "!".
const PYTHON_CLAUSE = '(?:===|==|!=|~=|<=|>=|<|>)\\s*[A-Za-z0-9.*+!_-]+';
const PYTHON_REQUIREMENT = new RegExp(
  `^(${PYTHON_NAME})\\s*(?:${PYTHON_CLAUSE}(?:\\s*,\\s*${PYTHON_CLAUSE})*)?$`,
);
// npm names: optional @scope/, then lower-case URL-safe characters (npm's validate-npm-package-name).
const NPM_NAME = '(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*';
// A version or range without spaces, URLs or paths: "4.17.21", "^1.2.0", "~2", "1.x", "latest".
const NPM_VERSION = '[A-Za-z0-9.^~<>=*|+_-]+';
const NPM_REQUIREMENT = new RegExp(`^(${NPM_NAME})(?:@(${NPM_VERSION}))?$`);

/**
 * Parses one requirement of `language`, or says why it is not acceptable. Pure; the allowlist is not
 * consulted here (see validatePackages).
 */
export function parseRequirement(language: Language, text: string): PackageSpec | string {
  const requirement = text.trim();
  if (requirement.length === 0) return 'must not be empty';
  if (Buffer.byteLength(requirement) > MAX_REQUIREMENT_BYTES) {
    return `must be at most ${MAX_REQUIREMENT_BYTES} bytes`;
  }
  if (language === 'python') {
    const match = PYTHON_REQUIREMENT.exec(requirement);
    if (!match) {
      return 'must be a project name with an optional version specifier (e.g. "tabulate" or "pymysql==1.1.1"); URLs, paths, extras, markers and options are not accepted';
    }
    return { requirement, name: normalizePackageName('python', match[1]!) };
  }
  const match = NPM_REQUIREMENT.exec(requirement);
  if (!match || match[2] === '') {
    return 'must be a package name with an optional @version (e.g. "lodash" or "lodash@4.17.21"); URLs, paths, git and tags with spaces are not accepted';
  }
  return { requirement, name: normalizePackageName('nodejs', match[1]!) };
}

/**
 * Checks the packages of a request in `language` against the server's policy. Requirements for
 * another language than the request's are refused (they would never be installed, and saying so is
 * clearer than ignoring them). Throws InvalidArgumentError naming the first offending entry.
 */
export function validatePackages(
  input: PackageRequestInput | undefined,
  language: Language,
  policy: PackagePolicy | undefined,
): PackageSpec[] {
  if (input === undefined) return [];
  for (const [other, list] of Object.entries(input)) {
    if (other !== language && list !== undefined && list.length > 0) {
      throw new InvalidArgumentError(
        `this is a ${language} request; it cannot install ${other} packages`,
        `packages.${other}`,
      );
    }
  }
  const list = input[language] ?? [];
  if (list.length === 0) return [];
  if (policy === undefined || !policy.languages.includes(language) || policy.allow.isEmpty()) {
    const missing = language === 'python' ? 'SANDBOX_PYPI_INDEX_URL' : 'SANDBOX_NPM_REGISTRY_URL';
    throw new InvalidArgumentError(
      `installing ${language} packages is off on this server (it needs ${missing} and SANDBOX_PACKAGES_ALLOW)`,
      `packages.${language}`,
    );
  }
  if (list.length > policy.maxCount) {
    throw new InvalidArgumentError(
      `has ${list.length} entries; the limit is ${policy.maxCount}`,
      `packages.${language}`,
    );
  }
  const seen = new Set<string>();
  return list.map((text, index) => {
    const field = `packages.${language}[${index}]`;
    const parsed = parseRequirement(language, text);
    if (typeof parsed === 'string') throw new InvalidArgumentError(parsed, field);
    if (!policy.allow.allows(language, parsed.name)) {
      throw new InvalidArgumentError(
        `"${parsed.name}" is not in the server's package allowlist (SANDBOX_PACKAGES_ALLOW)`,
        field,
      );
    }
    if (seen.has(parsed.name)) throw new InvalidArgumentError(`"${parsed.name}" is listed twice`, field);
    seen.add(parsed.name);
    return parsed;
  });
}
