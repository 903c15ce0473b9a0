import { describe, expect, it } from 'vitest';
import { normalizePackageName, PackageAllowList } from '../../src/domain/package-allow-list.js';
import { parseRequirement, validatePackages, type PackagePolicy } from '../../src/domain/package-request.js';

const allow = (...entries: string[]) => PackageAllowList.parse(entries).list;
const policy = (overrides: Partial<PackagePolicy> = {}): PackagePolicy => ({
  allow: allow('python:pymysql', 'python:django-*', 'nodejs:lodash', 'nodejs:@types/*'),
  maxCount: 3,
  languages: ['python', 'nodejs'],
  ...overrides,
});

describe('package names and the operator allowlist', () => {
  it('normalises Python names as PEP 503 does and npm names to lower case', () => {
    expect(normalizePackageName('python', 'PyMySQL')).toBe('pymysql');
    expect(normalizePackageName('python', 'zope.interface')).toBe('zope-interface');
    expect(normalizePackageName('python', 'a__b-.c')).toBe('a-b-c');
    expect(normalizePackageName('nodejs', 'Lodash')).toBe('lodash');
  });

  it.each([
    ['python', 'pymysql', true],
    ['python', 'django-rest', true],
    ['python', 'django', false],
    ['python', 'lodash', false],
    ['nodejs', 'lodash', true],
    ['nodejs', '@types/node', true],
    ['nodejs', '@typesx/node', false],
    ['nodejs', 'pymysql', false],
  ] as const)('%s:%s allowed: %s', (language, name, expected) => {
    expect(policy().allow.allows(language, name)).toBe(expected);
  });

  it('judges allowlist entries by their normalised name, and "." in an entry is no wildcard', () => {
    expect(allow('python:PyMySQL').allows('python', 'pymysql')).toBe(true);
    expect(allow('python:zope.interface').allows('python', 'zope-interface')).toBe(true);
    expect(allow('nodejs:lodash.get').allows('nodejs', 'lodashxget')).toBe(false);
    expect(allow('python:*').allows('python', 'anything')).toBe(true);
  });

  it('reports entries it cannot read', () => {
    expect(PackageAllowList.parse(['pymysql', 'ruby:rails', 'python:a b']).problems).toHaveLength(3);
    expect(PackageAllowList.parse([]).list.isEmpty()).toBe(true);
  });
});

describe('requirements', () => {
  it.each([
    ['python', 'pymysql==1.1.1', 'pymysql'],
    ['python', 'tabulate', 'tabulate'],
    ['python', 'requests>=2, <3', 'requests'],
    ['python', 'Django~=4.2', 'django'],
    ['nodejs', 'lodash@4.17.21', 'lodash'],
    ['nodejs', 'lodash', 'lodash'],
    ['nodejs', '@types/node@^20.1.0', '@types/node'],
  ] as const)('%s %s → %s', (language, text, name) => {
    expect(parseRequirement(language, text)).toEqual({ requirement: text, name });
  });

  it.each([
    ['python', ''],
    ['python', '--index-url=http://evil/'],
    ['python', '-r /etc/passwd'],
    ['python', 'pkg @ https://evil.example/pkg.whl'],
    ['python', 'https://evil.example/pkg.whl'],
    ['python', './local'],
    ['python', 'pkg[extra]'],
    ['python', 'pkg; python_version>"3"'],
    ['python', 'a'.repeat(201)],
    ['nodejs', 'git+https://github.com/x/y.git'],
    ['nodejs', 'file:../x'],
    ['nodejs', 'x@https://evil/x.tgz'],
    ['nodejs', 'lodash@'],
    ['nodejs', '--registry=http://evil/'],
    ['nodejs', 'lodash@ 1'],
  ] as const)('refuses %s %j', (language, text) => {
    expect(typeof parseRequirement(language, text)).toBe('string');
  });
});

describe('validatePackages', () => {
  it('returns the parsed requirements of the request language', () => {
    expect(validatePackages({ python: ['PyMySQL==1.1.1', 'django-filter'] }, 'python', policy())).toEqual([
      { requirement: 'PyMySQL==1.1.1', name: 'pymysql' },
      { requirement: 'django-filter', name: 'django-filter' },
    ]);
    expect(validatePackages(undefined, 'python', policy())).toEqual([]);
    expect(validatePackages({ python: [] }, 'python', policy())).toEqual([]);
  });

  it('names the first entry that is not on the allowlist', () => {
    expect(() => validatePackages({ python: ['pymysql', 'requests'] }, 'python', policy())).toThrow(
      `packages.python[1]: "requests" is not in the server's package allowlist (SANDBOX_PACKAGES_ALLOW)`,
    );
  });

  it('refuses too many, duplicates, the other language, and installs the server does not offer', () => {
    expect(() =>
      validatePackages({ python: ['pymysql', 'django-a', 'django-b', 'django-c'] }, 'python', policy()),
    ).toThrow('packages.python: has 4 entries; the limit is 3');
    expect(() => validatePackages({ python: ['pymysql', 'PyMySQL==1'] }, 'python', policy())).toThrow(
      'listed twice',
    );
    expect(() => validatePackages({ nodejs: ['lodash'] }, 'python', policy())).toThrow(
      'packages.nodejs: this is a python request; it cannot install nodejs packages',
    );
    expect(() =>
      validatePackages({ nodejs: ['lodash'] }, 'nodejs', policy({ languages: ['python'] })),
    ).toThrow('needs SANDBOX_NPM_REGISTRY_URL');
    expect(() => validatePackages({ python: ['pymysql'] }, 'python', undefined)).toThrow(
      'installing python packages is off',
    );
  });
});
