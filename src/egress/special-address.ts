import { parseIpLiteral, type IpAddress } from '../domain/ip-literal.js';

/** A network in binary: the address's first `prefix` bits must equal the network's. */
interface Range {
  kind: string;
  network: Uint8Array;
  prefix: number;
}

function range(kind: string, network: string, prefix: number): Range {
  const address = parseIpLiteral(network);
  if (!address) throw new Error(`bad range ${network}`);
  return { kind, network: address.bytes, prefix };
}

/**
 * IPv4 ranges a sandbox must not reach unless the operator names the exact host: the service's own
 * machine, the networks behind it, cloud metadata (169.254.169.254), and everything IANA lists as not
 * globally reachable. The first match names the kind.
 */
const IPV4_RANGES: readonly Range[] = [
  range('unspecified', '0.0.0.0', 8),
  range('private', '10.0.0.0', 8),
  range('shared (carrier-grade NAT)', '100.64.0.0', 10),
  range('loopback', '127.0.0.0', 8),
  range('link-local (cloud metadata)', '169.254.0.0', 16),
  range('private', '172.16.0.0', 12),
  range('reserved', '192.0.0.0', 24),
  range('documentation', '192.0.2.0', 24),
  range('reserved (6to4 relay anycast)', '192.88.99.0', 24),
  range('private', '192.168.0.0', 16),
  range('benchmarking', '198.18.0.0', 15),
  range('documentation', '198.51.100.0', 24),
  range('documentation', '203.0.113.0', 24),
  range('multicast', '224.0.0.0', 4),
  range('broadcast', '255.255.255.255', 32),
  range('reserved', '240.0.0.0', 4),
];

/**
 * IPv6 ranges judged as themselves. fd00:ec2::254 (a metadata endpoint) is unique-local. Everything
 * outside global unicast 2000::/3 is refused too (see specialAddressKind), so these name the kinds.
 */
const IPV6_RANGES: readonly Range[] = [
  range('unspecified', '::', 128),
  range('loopback', '::1', 128),
  range('translated (local-use NAT64)', '64:ff9b:1::', 48),
  range('discard-only', '100::', 64),
  range('reserved (IETF protocol assignments: Teredo, benchmarking, ORCHID)', '2001::', 23),
  range('documentation', '2001:db8::', 32),
  range('documentation', '3fff::', 20),
  range('private (unique local, cloud metadata)', 'fc00::', 7),
  range('link-local', 'fe80::', 10),
  range('site-local', 'fec0::', 10),
  range('multicast', 'ff00::', 8),
];
const GLOBAL_UNICAST = range('global unicast', '2000::', 3);

/**
 * IPv6 forms that carry an IPv4 address, and where. `judged` forms lead to that IPv4 address (Node
 * connects ::ffff:a.b.c.d to a.b.c.d; a NAT64 gateway or 6to4 relay translates the others), so they
 * are judged as the address they carry: public ones pass, special ones are refused like the IPv4
 * address itself. The deprecated forms are refused whatever they carry: nothing legitimate uses them.
 */
const IPV4_EMBEDDINGS: readonly { form: Range; offset: number; judged: boolean }[] = [
  { form: range('IPv4-mapped', '::ffff:0:0', 96), offset: 12, judged: true },
  { form: range('IPv4-compatible (deprecated)', '::', 96), offset: 12, judged: false },
  { form: range('IPv4-translated (SIIT, deprecated)', '::ffff:0:0:0', 96), offset: 12, judged: false },
  { form: range('NAT64', '64:ff9b::', 96), offset: 12, judged: true },
  { form: range('6to4', '2002::', 16), offset: 2, judged: true },
];

/**
 * Which special range `address` is in, or undefined for an ordinary public address. Takes an IP
 * literal (any spelling parseIpLiteral accepts) and judges its bytes, never its text, so no spelling
 * of an address is judged differently from another. An IPv6 address carrying an IPv4 address
 * (IPv4-mapped, NAT64, 6to4, …) is refused when the IPv4 address it carries would be.
 */
export function specialAddressKind(address: string): string | undefined {
  const parsed = parseIpLiteral(address);
  return parsed ? specialKindOf(parsed) : 'not an IP address';
}

/** specialAddressKind for an address already parsed. */
export function specialKindOf(address: IpAddress): string | undefined {
  const { bytes } = address;
  if (address.family === 4) return firstMatch(IPV4_RANGES, bytes);
  const own = firstMatch(IPV6_RANGES, bytes);
  if (own) return own;
  for (const { form, offset, judged } of IPV4_EMBEDDINGS) {
    if (!inRange(form, bytes)) continue;
    const carried = firstMatch(IPV4_RANGES, bytes.subarray(offset, offset + 4));
    if (carried) return `${carried} (${form.kind})`;
    return judged ? undefined : form.kind;
  }
  return inRange(GLOBAL_UNICAST, bytes) ? undefined : 'reserved (not global unicast)';
}

function firstMatch(ranges: readonly Range[], bytes: Uint8Array): string | undefined {
  return ranges.find((candidate) => inRange(candidate, bytes))?.kind;
}

function inRange({ network, prefix }: Range, bytes: Uint8Array): boolean {
  if (bytes.length !== network.length) return false;
  const whole = prefix >> 3;
  for (let index = 0; index < whole; index += 1) if (bytes[index] !== network[index]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((bytes[whole] ?? 0) & mask) === ((network[whole] ?? 0) & mask);
}
