// Generates the ways one IP address can be written, for property-style tests of the egress checks.
// Written independently of src/domain/ip-literal.ts (by construction, not by parsing) so the two
// cannot share a mistake.

/** An IPv4 address as its four octets. */
function ipv4Octets(address: string): number[] {
  const octets = address.split('.').map(Number);
  if (octets.length !== 4 || octets.some((octet) => !(octet >= 0 && octet <= 255))) {
    throw new Error(`not a dotted IPv4 address: ${address}`);
  }
  return octets;
}

/** The eight 16-bit groups of an IPv6 address given as eight groups or a prefix plus an IPv4 tail. */
export function ipv6Groups(prefix: readonly number[], ipv4Tail?: string): number[] {
  if (ipv4Tail === undefined) return [...prefix];
  const [a = 0, b = 0, c = 0, d = 0] = ipv4Octets(ipv4Tail);
  return [...prefix, (a << 8) | b, (c << 8) | d];
}

/**
 * Every RFC 4291 spelling of an IPv6 address: all eight groups or `::` over each run of zero groups
 * it can stand for (every start and length, not only the longest), groups with and without leading
 * zeros, lower and upper case, and with the last 32 bits as a dotted-decimal tail.
 */
export function ipv6Spellings(groups: readonly number[]): string[] {
  if (groups.length !== 8) throw new Error('eight groups');
  const spellings = new Set<string>();
  const tail = `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  for (const dotted of [false, true]) {
    const hexCount = dotted ? 6 : 8;
    for (const padded of [false, true]) {
      for (const upper of [false, true]) {
        let units = groups.slice(0, hexCount).map((group) => {
          const hex = group.toString(16);
          const text = padded ? hex.padStart(4, '0') : hex;
          return upper ? text.toUpperCase() : text;
        });
        if (dotted) units = [...units, tail];
        const join = (part: string[]) => part.join(':');
        spellings.add(join(units));
        for (let start = 0; start < hexCount; start += 1) {
          for (let end = start + 1; end <= hexCount && groups[end - 1] === 0; end += 1) {
            spellings.add(`${join(units.slice(0, start))}::${join(units.slice(end))}`);
          }
        }
      }
    }
  }
  return [...spellings];
}

/** Where IPv6 carries an IPv4 address, and the prefix that says so. */
export const IPV4_EMBEDDINGS: readonly { name: string; wrap: (ipv4: string) => number[] }[] = [
  { name: 'IPv4-mapped ::ffff:0:0/96', wrap: (ipv4) => ipv6Groups([0, 0, 0, 0, 0, 0xffff], ipv4) },
  { name: 'IPv4-compatible ::/96', wrap: (ipv4) => ipv6Groups([0, 0, 0, 0, 0, 0], ipv4) },
  { name: 'IPv4-translated ::ffff:0:0:0/96', wrap: (ipv4) => ipv6Groups([0, 0, 0, 0, 0xffff, 0], ipv4) },
  { name: 'NAT64 64:ff9b::/96', wrap: (ipv4) => ipv6Groups([0x64, 0xff9b, 0, 0, 0, 0], ipv4) },
  {
    name: '6to4 2002::/16',
    wrap: (ipv4) => {
      const [a = 0, b = 0, c = 0, d = 0] = ipv4Octets(ipv4);
      return [0x2002, (a << 8) | b, (c << 8) | d, 0, 0, 0, 0, 1];
    },
  },
];

/**
 * The inet_aton shorthands of an IPv4 address (one number; octal, hex, and two- and three-part
 * forms; octets with leading zeros), which getaddrinfo and URL parsers read as that address.
 */
export function ipv4Shorthands(address: string): string[] {
  const [a = 0, b = 0, c = 0, d = 0] = ipv4Octets(address);
  const whole = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  const forms = [
    String(whole),
    `0x${whole.toString(16)}`,
    `0${whole.toString(8)}`,
    [a, b, c, d].map((octet) => `0${octet.toString(8)}`).join('.'),
    [a, b, c, d].map((octet) => `0x${octet.toString(16)}`).join('.'),
    [a, b, c, d].map((octet) => String(octet).padStart(3, '0')).join('.'),
    `${a}.${(b << 16) + (c << 8) + d}`,
    `${a}.${b}.${(c << 8) + d}`,
    `0x${a.toString(16)}.${(b << 16) + (c << 8) + d}`,
  ];
  return [...new Set(forms)].filter((form) => form !== address);
}

/**
 * One or more addresses of each range a sandbox must not reach, first and last of the range and the
 * well-known ones (metadata, loopback). A test's own list: what must be refused, whatever the code says.
 */
export const SPECIAL_IPV4: readonly string[] = [
  '0.0.0.0',
  '0.255.255.255',
  '10.0.0.1',
  '10.255.255.255',
  '100.64.0.0',
  '100.127.255.255',
  '127.0.0.1',
  '127.255.255.254',
  '169.254.169.254',
  '169.254.0.1',
  '172.16.0.1',
  '172.17.0.1',
  '172.31.255.255',
  '192.0.0.1',
  '192.0.2.1',
  '192.88.99.1',
  '192.168.0.1',
  '192.168.255.255',
  '198.18.0.1',
  '198.19.255.255',
  '198.51.100.7',
  '203.0.113.9',
  '224.0.0.1',
  '239.255.255.255',
  '240.0.0.1',
  '255.255.255.255',
];

/** IPv6 addresses of the ranges that are special in themselves, as eight groups. */
export const SPECIAL_IPV6: readonly { label: string; groups: number[] }[] = [
  { label: 'unspecified ::', groups: [0, 0, 0, 0, 0, 0, 0, 0] },
  { label: 'loopback ::1', groups: [0, 0, 0, 0, 0, 0, 0, 1] },
  { label: 'link-local fe80::1', groups: [0xfe80, 0, 0, 0, 0, 0, 0, 1] },
  {
    label: 'link-local febf:…:ffff',
    groups: [0xfebf, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff],
  },
  { label: 'site-local fec0::1', groups: [0xfec0, 0, 0, 0, 0, 0, 0, 1] },
  { label: 'unique-local fc00::', groups: [0xfc00, 0, 0, 0, 0, 0, 0, 0] },
  { label: 'metadata fd00:ec2::254', groups: [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] },
  {
    label: 'unique-local fdff:…:ffff',
    groups: [0xfdff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff],
  },
  { label: 'multicast ff02::1', groups: [0xff02, 0, 0, 0, 0, 0, 0, 1] },
  { label: 'multicast ff0e::fb', groups: [0xff0e, 0, 0, 0, 0, 0, 0, 0xfb] },
  { label: 'documentation 2001:db8::1', groups: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1] },
  { label: 'documentation 3fff::1', groups: [0x3fff, 0, 0, 0, 0, 0, 0, 1] },
  { label: 'Teredo 2001::1', groups: [0x2001, 0, 0, 0, 0, 0, 0, 1] },
  { label: 'benchmarking 2001:2::1', groups: [0x2001, 2, 0, 0, 0, 0, 0, 1] },
  { label: 'discard-only 100::1', groups: [0x100, 0, 0, 0, 0, 0, 0, 1] },
  { label: 'local-use NAT64 64:ff9b:1::7f00:1', groups: [0x64, 0xff9b, 1, 0, 0, 0, 0x7f00, 1] },
  { label: 'reserved 5f00::1 (outside 2000::/3)', groups: [0x5f00, 0, 0, 0, 0, 0, 0, 1] },
];

/** Every spelling of every special address: IPv4 ones dotted and inside each IPv6 embedding. */
export function specialSpellings(): { label: string; spelling: string }[] {
  const all: { label: string; spelling: string }[] = [];
  for (const ipv4 of SPECIAL_IPV4) {
    all.push({ label: ipv4, spelling: ipv4 });
    for (const { name, wrap } of IPV4_EMBEDDINGS) {
      for (const spelling of ipv6Spellings(wrap(ipv4))) all.push({ label: `${ipv4} ${name}`, spelling });
    }
  }
  for (const { label, groups } of SPECIAL_IPV6) {
    for (const spelling of ipv6Spellings(groups)) all.push({ label, spelling });
  }
  return all;
}
