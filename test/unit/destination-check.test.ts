import { describe, expect, it } from 'vitest';
import {
  narrowNetworkPolicy,
  NO_EGRESS,
  normalizeHost,
  parseAllowEntry,
  parseOperatorAllowList,
  type AllowRule,
} from '../../src/domain/network-policy.js';
import { checkDestination } from '../../src/egress/destination-check.js';
import type { HostResolver } from '../../src/egress/host-resolver.js';
import { specialAddressKind } from '../../src/egress/special-address.js';
import {
  IPV4_EMBEDDINGS,
  ipv4Shorthands,
  ipv6Spellings,
  SPECIAL_IPV4,
  specialSpellings,
} from '../support/address-spellings.js';

const { rules: ceiling } = parseOperatorAllowList([
  'api.example.com',
  'db.internal:5432',
  '*.example.org',
  '10.0.0.9:8080',
]);
const policy = narrowNetworkPolicy(['*'], ceiling);
const names: Record<string, string[]> = {
  'api.example.com': ['93.184.216.34'],
  'db.internal': ['10.1.2.3'],
  'evil.example.org': ['169.254.169.254'],
  'mixed.example.org': ['127.0.0.1', '93.184.216.35'],
};
const resolve: HostResolver = async (host) => {
  const addresses = names[host];
  if (!addresses) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return addresses;
};

describe('specialAddressKind', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback (IPv4-mapped)'],
    ['::ffff:7f00:1', 'loopback (IPv4-mapped)'],
    ['0:0:0:0:0:ffff:7f00:1', 'loopback (IPv4-mapped)'],
    ['0::ffff:7f00:1', 'loopback (IPv4-mapped)'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'link-local (cloud metadata) (IPv4-mapped)'],
    ['0:0:0:0:0:ffff:ac11:1', 'private (IPv4-mapped)'],
    ['64:ff9b::a9fe:a9fe', 'link-local (cloud metadata) (NAT64)'],
    ['2002:7f00:1::1', 'loopback (6to4)'],
    ['::7f00:1', 'loopback (IPv4-compatible (deprecated))'],
    ['::808:808', 'IPv4-compatible (deprecated)'],
    ['255.255.255.255', 'broadcast'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['fd00:ec2::254', 'private (unique local, cloud metadata)'],
    ['fe80::1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
  ])('%s is %s', (address, kind) => {
    expect(specialAddressKind(address)).toBe(kind);
  });

  it.each(['93.184.216.34', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    '%s is public',
    (address) => {
      expect(specialAddressKind(address)).toBeUndefined();
    },
  );

  it.each([
    'fe80::1%eth0',
    '::ffff:127.000.000.001',
    '::ffff:0177.0.0.1',
    '00000::1',
    '1::2::3',
    '[::1]',
    '127.1',
  ])('%s is not an IP literal it judges', (text) => {
    expect(specialAddressKind(text)).toBe('not an IP address');
  });

  it('refuses every spelling of every special address: expanded, compressed anywhere, padded, either case, dotted tails, inside every IPv4 embedding', () => {
    const spellings = specialSpellings();
    expect(spellings.length).toBeGreaterThan(10_000);
    const judgedPublic = spellings.filter(({ spelling }) => specialAddressKind(spelling) === undefined);
    expect(judgedPublic).toEqual([]);
  });

  it('judges public IPv4 addresses inside the translating embeddings as public', () => {
    for (const { name, wrap } of IPV4_EMBEDDINGS.filter(
      (embedding) => !embedding.name.includes('::/96') && !embedding.name.includes('translated'),
    )) {
      for (const spelling of ipv6Spellings(wrap('93.184.216.34'))) {
        expect([name, spelling, specialAddressKind(spelling)]).toEqual([name, spelling, undefined]);
      }
    }
  });
});

describe('normalizeHost', () => {
  it.each(SPECIAL_IPV4.flatMap(ipv4Shorthands))('refuses the IPv4 shorthand %s', (shorthand) => {
    expect(normalizeHost(shorthand)).toBeUndefined();
    expect(normalizeHost(`${shorthand}.`)).toBeUndefined();
  });

  it.each([
    ['[0:0:0:0:0:FFFF:7F00:1]', '::ffff:7f00:1'],
    ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
    ['[FD00:0EC2:0000::0254]', 'fd00:ec2::254'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['Example.COM.', 'example.com'],
    ['127.0.0.1', '127.0.0.1'],
  ])('writes %s as %s', (host, normalized) => {
    expect(normalizeHost(host)).toBe(normalized);
  });

  it.each([
    '[fe80::1%eth0]',
    '[fe80::1%25eth0]',
    '[127.0.0.1]',
    '[::ffff:127.0.0.01]',
    '0x7f.1',
    '1.2.3.4.5',
  ])('refuses %s', (host) => {
    expect(normalizeHost(host)).toBeUndefined();
  });

  it('matches an operator entry however either side spells the address', () => {
    const { rules } = parseOperatorAllowList(['[FD00:0:0::1]:8080']);
    expect(rules[0]?.host).toBe('fd00::1');
    expect((parseAllowEntry('[fd00::0:1]:8080') as AllowRule).host).toBe('fd00::1');
  });
});

describe('checkDestination in logged-open mode (network.allow: ["*"] under SANDBOX_EGRESS_OPEN)', () => {
  const anyHost = parseAllowEntry('*') as AllowRule;
  const open = narrowNetworkPolicy(['*'], [anyHost]);
  const asked: string[] = [];
  const recordingResolver: HostResolver = async (host) => {
    asked.push(host);
    return ['93.184.216.34'];
  };

  it('refuses every spelling of every special address, never asking the resolver', async () => {
    const allowed: string[] = [];
    for (const { spelling } of specialSpellings()) {
      const host = spelling.includes(':') ? `[${spelling}]` : spelling;
      const decision = await checkDestination(open, host, 443, recordingResolver);
      if (decision.allowed) allowed.push(`${spelling} -> ${decision.address}`);
    }
    expect(allowed).toEqual([]);
    expect(asked).toEqual([]);
  });

  it('refuses every IPv4 shorthand as not a valid host instead of resolving it', async () => {
    for (const shorthand of SPECIAL_IPV4.flatMap(ipv4Shorthands)) {
      expect(await checkDestination(open, shorthand, 443, recordingResolver)).toEqual({
        allowed: false,
        host: shorthand,
        reason: 'not a valid host',
      });
    }
    expect(asked).toEqual([]);
  });

  it('connects to the canonical text of the address it judged', async () => {
    expect(
      await checkDestination(open, '[2606:4700:0000:0000:0000:0000:0000:1111]', 443, recordingResolver),
    ).toEqual({
      allowed: true,
      host: '2606:4700::1111',
      address: '2606:4700::1111',
    });
  });

  it('refuses a resolver answer it cannot judge, and judges the others by their bytes', async () => {
    const answers: HostResolver = async () => ['fe80::1%eth0', '0:0:0:0:0:ffff:7f00:1'];
    expect(await checkDestination(open, 'api.example.com', 443, answers)).toMatchObject({
      allowed: false,
      reason: 'resolves to an address the proxy cannot judge (fe80::1%eth0)',
    });
  });
});

describe('checkDestination', () => {
  it('allows a listed host and returns the address to connect to', async () => {
    expect(await checkDestination(policy, 'API.example.com', 443, resolve)).toEqual({
      allowed: true,
      host: 'api.example.com',
      address: '93.184.216.34',
    });
  });

  it('lets an exact operator host resolve to a private address, and an exact private IP through', async () => {
    expect(await checkDestination(policy, 'db.internal', 5432, resolve)).toMatchObject({
      address: '10.1.2.3',
    });
    expect(await checkDestination(policy, '10.0.0.9', 8080, resolve)).toMatchObject({ address: '10.0.0.9' });
  });

  it('refuses a wildcard match that resolves to metadata, and uses only the public address of a mixed answer', async () => {
    expect(await checkDestination(policy, 'evil.example.org', 443, resolve)).toEqual({
      allowed: false,
      host: 'evil.example.org',
      reason: expect.stringContaining('link-local (cloud metadata) address (169.254.169.254)') as string,
    });
    expect(await checkDestination(policy, 'mixed.example.org', 443, resolve)).toMatchObject({
      allowed: true,
      address: '93.184.216.35',
    });
  });

  it.each([
    ['api.example.com', 8080, 'not in the allowlist'],
    ['93.184.216.34', 443, 'not in the allowlist'],
    ['10.1.2.3', 5432, 'not in the allowlist'],
    ['nope.example.org', 443, 'cannot resolve (ENOTFOUND)'],
    ['bad host', 443, 'not a valid host'],
    ['api.example.com', 0, 'not a valid port'],
  ])('refuses %s:%d: %s', async (host, port, reason) => {
    expect(await checkDestination(policy, host, port, resolve)).toMatchObject({ allowed: false, reason });
  });

  it('refuses everything without a policy', async () => {
    expect(await checkDestination(NO_EGRESS, 'api.example.com', 443, resolve)).toMatchObject({
      allowed: false,
      reason: 'no egress allowed for this execution',
    });
  });
});
