/** An IP address in binary, network byte order: 4 bytes for IPv4, 16 for IPv6. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/** 0-255 written in decimal without leading zeros: `010` is octal to inet_aton and decimal to others. */
const DECIMAL_OCTET = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

/**
 * Parses an IP literal into its bytes, accepting exactly one reading of the text so that what is
 * judged is what a connection reaches:
 * - IPv4 only as four dotted decimal octets without leading zeros. The inet_aton shorthands
 *   (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`) are not literals here: they mean different
 *   addresses to different readers.
 * - IPv6 in any RFC 4291 text form (1-4 hex digits per group in either case, one `::` anywhere,
 *   a dotted-decimal tail in place of the last two groups); these all have one reading. No zone id
 *   (`fe80::1%eth0`): a scoped address is never a destination for a sandbox.
 * Brackets are the caller's to strip. Undefined for anything else.
 */
export function parseIpLiteral(text: string): IpAddress | undefined {
  const ipv4 = parseIpv4(text);
  if (ipv4) return { family: 4, bytes: ipv4 };
  const ipv6 = parseIpv6(text);
  return ipv6 ? { family: 6, bytes: ipv6 } : undefined;
}

/**
 * The one spelling of an address: IPv4 dotted decimal; IPv6 as RFC 5952 recommends (lower case, no
 * leading zeros, the longest run of two or more zero groups as `::`, the first on a tie), always in
 * hex groups — the same text WHATWG URL parsing gives a bracketed host, so both proxy paths name a
 * destination alike.
 */
export function formatIpAddress(address: IpAddress): string {
  const { bytes } = address;
  if (address.family === 4) return Array.from(bytes).join('.');
  const groups = Array.from(
    { length: 8 },
    (_, index) => ((bytes[2 * index] ?? 0) << 8) | (bytes[2 * index + 1] ?? 0),
  );
  let bestStart = -1;
  let bestLength = 1; // a single zero group is written as 0, never ::
  for (let start = 0; start < 8;) {
    let end = start;
    while (end < 8 && groups[end] === 0) end += 1;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end === start ? start + 1 : end;
  }
  const hex = (part: number[]) => part.map((group) => group.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** The canonical spelling of `text` if it is an IP literal (see parseIpLiteral), else undefined. */
export function canonicalIpLiteral(text: string): string | undefined {
  const address = parseIpLiteral(text);
  return address ? formatIpAddress(address) : undefined;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => DECIMAL_OCTET.test(part))) return undefined;
  return Uint8Array.from(parts, Number);
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const compressed = halves.length === 2;
  const head = parseGroups(halves[0] ?? '', !compressed);
  const tail = compressed ? parseGroups(halves[1] ?? '', true) : [];
  if (!head || !tail) return undefined;
  const written = head.length + tail.length;
  // `::` stands for at least one zero group; without it all eight must be written.
  if (compressed ? written > 7 : written !== 8) return undefined;
  const groups = [...head, ...new Array<number>(8 - written).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    bytes[2 * index] = group >> 8;
    bytes[2 * index + 1] = group & 255;
  });
  return bytes;
}

/** Colon-separated groups; a dotted IPv4 tail only as the last piece of the whole address. */
function parseGroups(part: string, endsAddress: boolean): number[] | undefined {
  if (part === '') return [];
  const pieces = part.split(':');
  const groups: number[] = [];
  for (const [index, piece] of pieces.entries()) {
    if (HEX_GROUP.test(piece)) {
      groups.push(parseInt(piece, 16));
      continue;
    }
    const ipv4 = endsAddress && index === pieces.length - 1 ? parseIpv4(piece) : undefined;
    if (!ipv4) return undefined;
    groups.push(((ipv4[0] ?? 0) << 8) | (ipv4[1] ?? 0), ((ipv4[2] ?? 0) << 8) | (ipv4[3] ?? 0));
  }
  return groups;
}
