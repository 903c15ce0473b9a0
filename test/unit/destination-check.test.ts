import { describe, expect, it } from 'vitest';
import { narrowNetworkPolicy, NO_EGRESS, parseOperatorAllowList } from '../../src/domain/network-policy.js';
import { checkDestination } from '../../src/egress/destination-check.js';
import type { HostResolver } from '../../src/egress/host-resolver.js';
import { specialAddressKind } from '../../src/egress/special-address.js';

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
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
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

  it.each(['93.184.216.34', '2606:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(specialAddressKind(address)).toBeUndefined();
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
