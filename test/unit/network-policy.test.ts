import { describe, expect, it } from 'vitest';
import {
  matchingRules,
  narrowNetworkPolicy,
  normalizeHost,
  parseAllowEntry,
  parseOperatorAllowList,
  type AllowRule,
} from '../../src/domain/network-policy.js';
import { InvalidArgumentError } from '../../src/errors/service-error.js';

const operator = (...entries: string[]): AllowRule[] => {
  const { rules, problems } = parseOperatorAllowList(entries);
  expect(problems).toEqual([]);
  return rules;
};

describe('parseAllowEntry', () => {
  it.each([
    ['api.example.com', { kind: 'exact', host: 'api.example.com', ports: [80, 443] }],
    ['API.Example.com.:8443', { kind: 'exact', host: 'api.example.com', ports: [8443] }],
    ['*.example.com', { kind: 'subdomains', host: 'example.com', ports: [80, 443] }],
    ['10.0.0.5:8080', { kind: 'exact', host: '10.0.0.5', ports: [8080] }],
    ['[FD00::1]:443', { kind: 'exact', host: 'fd00::1', ports: [443] }],
    ['*', { kind: 'any', host: '', ports: undefined }],
  ])('parses %s', (entry, expected) => {
    expect(parseAllowEntry(entry)).toMatchObject(expected);
  });

  it.each(['', 'a b', 'host:0', 'host:70000', 'http://x', '*.10.0.0.1', 'fd00::1', '-bad.com', 'x:80:90'])(
    'refuses %j with a reason',
    (entry) => {
      expect(typeof parseAllowEntry(entry)).toBe('string');
    },
  );

  it('lets only exact operator entries reach private addresses', () => {
    expect(operator('db.internal:5432', '*.corp')).toMatchObject([
      { host: 'db.internal', reachesPrivate: true },
      { host: 'corp', reachesPrivate: false },
    ]);
    expect(parseOperatorAllowList(['ok.com', 'bad host']).problems).toEqual([
      '"bad host": "bad host" is not a host name or IP address',
    ]);
  });
});

describe('normalizeHost', () => {
  it('compares hosts in one spelling', () => {
    expect(normalizeHost('Example.COM.')).toBe('example.com');
    expect(normalizeHost('[::1]')).toBe('::1');
    expect(normalizeHost('a..b')).toBeUndefined();
    expect(normalizeHost('[not-ip]')).toBeUndefined();
  });
});

describe('narrowNetworkPolicy', () => {
  const ceiling = operator('api.example.com', 'db.internal:5432', '*.cdn.example.net:443');

  it('gives no egress without a list', () => {
    expect(narrowNetworkPolicy(undefined, ceiling).rules).toEqual([]);
    expect(narrowNetworkPolicy([], ceiling).rules).toEqual([]);
  });

  it('accepts entries inside the ceiling and keeps private reach only for exact operator hosts', () => {
    const policy = narrowNetworkPolicy(
      ['api.example.com:443', 'db.internal:5432', 'img.cdn.example.net:443', '*.eu.cdn.example.net:443'],
      ceiling,
    );
    expect(policy.rules.map((rule) => [rule.kind, rule.host, rule.ports, rule.reachesPrivate])).toEqual([
      ['exact', 'api.example.com', [443], true],
      ['exact', 'db.internal', [5432], true],
      ['exact', 'img.cdn.example.net', [443], false],
      ['subdomains', 'eu.cdn.example.net', [443], false],
    ]);
  });

  it('expands "*" to the whole ceiling', () => {
    expect(narrowNetworkPolicy(['*'], ceiling).rules).toEqual(ceiling);
  });

  it.each([
    [['evil.com'], 'network.allow[0]', 'evil.com'],
    [['api.example.com', 'api.example.com:8080'], 'network.allow[1]', 'api.example.com:8080'],
    [['*.example.com'], 'network.allow[0]', '*.example.com'],
    [['cdn.example.net:443'], 'network.allow[0]', 'cdn.example.net'],
    [['img.cdn.example.net'], 'network.allow[0]', 'img.cdn.example.net'], // ports 80 and 443; only 443 allowed
    [['db.internal:5433'], 'network.allow[0]', 'db.internal:5433'],
  ])('refuses %j, which widens the ceiling, naming %s', (requested, field, entry) => {
    const attempt = () => narrowNetworkPolicy(requested, ceiling);
    expect(attempt).toThrow(InvalidArgumentError);
    expect(attempt).toThrow(field);
    expect(attempt).toThrow(entry);
  });

  it('refuses everything when the server allows nothing, "*" included', () => {
    expect(() => narrowNetworkPolicy(['*'], [])).toThrow('network.allow[0]');
    expect(() => narrowNetworkPolicy(['a.com'], [])).toThrow('not in the server');
  });

  it('in open mode allows any host but never private reach', () => {
    const open = [...operator('db.internal:5432'), parseAllowEntry('*') as AllowRule];
    const policy = narrowNetworkPolicy(['anything.org:8080', 'db.internal:5432'], open);
    expect(policy.rules.map((rule) => rule.reachesPrivate)).toEqual([false, true]);
  });

  it('refuses too many entries and malformed ones', () => {
    expect(() => narrowNetworkPolicy(new Array(65).fill('a.com'), ceiling)).toThrow('limit is 64');
    expect(() => narrowNetworkPolicy(['a b'], ceiling)).toThrow('network.allow[0]');
  });
});

describe('matchingRules', () => {
  const policy = narrowNetworkPolicy(['*'], operator('api.example.com:443', '*.example.org'));

  it('matches exact hosts, subdomains (not the parent) and ports', () => {
    expect(matchingRules(policy, 'api.example.com', 443)).toHaveLength(1);
    expect(matchingRules(policy, 'api.example.com', 80)).toHaveLength(0);
    expect(matchingRules(policy, 'a.b.example.org', 80)).toHaveLength(1);
    expect(matchingRules(policy, 'example.org', 443)).toHaveLength(0);
    expect(matchingRules(policy, 'badexample.org', 443)).toHaveLength(0);
  });
});
