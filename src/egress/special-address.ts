import { BlockList, isIP } from 'node:net';

/**
 * Address ranges a sandbox must not reach unless the operator names the exact host: the service's own
 * machine, the networks behind it, and cloud metadata endpoints (169.254.169.254 and fd00:ec2::254 are
 * inside the link-local and unique-local ranges). Anything not globally routable is here.
 */
const SPECIAL_RANGES: readonly [kind: string, network: string, prefix: number, family: 'ipv4' | 'ipv6'][] = [
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['shared (carrier-grade NAT)', '100.64.0.0', 10, 'ipv4'],
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['link-local (cloud metadata)', '169.254.0.0', 16, 'ipv4'],
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['reserved', '192.0.0.0', 24, 'ipv4'],
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['benchmarking', '198.18.0.0', 15, 'ipv4'],
  ['multicast', '224.0.0.0', 4, 'ipv4'],
  ['reserved', '240.0.0.0', 4, 'ipv4'],
  ['unspecified', '::', 128, 'ipv6'],
  ['loopback', '::1', 128, 'ipv6'],
  ['translated (NAT64)', '64:ff9b::', 96, 'ipv6'],
  ['private (unique local, cloud metadata)', 'fc00::', 7, 'ipv6'],
  ['link-local', 'fe80::', 10, 'ipv6'],
  ['site-local', 'fec0::', 10, 'ipv6'],
  ['multicast', 'ff00::', 8, 'ipv6'],
];

const BLOCK_LISTS = SPECIAL_RANGES.map(([kind, network, prefix, family]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, family);
  return { kind, list, family };
});

/**
 * Which special range `address` (an IP literal) is in, or undefined for an ordinary public address.
 * IPv4-mapped and IPv4-compatible IPv6 forms (::ffff:127.0.0.1) are judged as the IPv4 address they
 * carry, so they cannot smuggle a loopback destination past the check.
 */
export function specialAddressKind(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  let value = address.toLowerCase();
  let type: 'ipv4' | 'ipv6' = family === 4 ? 'ipv4' : 'ipv6';
  const embedded = embeddedIpv4(value);
  if (embedded) {
    value = embedded;
    type = 'ipv4';
  }
  return BLOCK_LISTS.find(({ list, family: rangeFamily }) => rangeFamily === type && list.check(value, type))
    ?.kind;
}

/** The IPv4 address inside an IPv4-mapped/compatible IPv6 address, in dotted form. */
function embeddedIpv4(address: string): string | undefined {
  const dotted = /^(?:::ffff:|::ffff:0:|::)(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|::ffff:0:|::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (!hex) return undefined;
  const high = parseInt(hex[1] ?? '0', 16);
  const low = parseInt(hex[2] ?? '0', 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}
