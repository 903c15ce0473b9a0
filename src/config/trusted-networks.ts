import { isIP } from 'node:net';

/**
 * A source of calls that may skip the token (RAGFlow's trust model: its manager trusts its docker
 * network). Either an address range, or a docker network by name, resolved at start-up to its
 * subnets minus its gateways (published ports reach a container from the gateway address).
 */
export type TrustedNetwork =
  | { kind: 'cidr'; address: string; prefix: number; family: 'ipv4' | 'ipv6'; exclude: boolean }
  | { kind: 'docker-network'; name: string };

const DOCKER_PREFIX = 'docker:';

/**
 * Parses SANDBOX_TRUSTED_NETWORKS: comma-separated entries, each a CIDR ("172.20.0.0/16"; a bare
 * address is one host), a CIDR prefixed "!" (excluded even inside a trusted range), or
 * "docker:<network name>". Pure; every bad entry is reported.
 */
export function parseTrustedNetworks(value: string): TrustedNetwork[] | Error {
  const entries: TrustedNetwork[] = [];
  const bad: string[] = [];
  for (const raw of value.split(',').map((entry) => entry.trim())) {
    if (raw === '') continue;
    if (raw.startsWith(DOCKER_PREFIX)) {
      const name = raw.slice(DOCKER_PREFIX.length);
      if (/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) entries.push({ kind: 'docker-network', name });
      else bad.push(raw);
      continue;
    }
    const cidr = parseCidr(raw.startsWith('!') ? raw.slice(1) : raw);
    if (cidr) entries.push({ kind: 'cidr', ...cidr, exclude: raw.startsWith('!') });
    else bad.push(raw);
  }
  if (bad.length > 0) {
    return new Error(
      `${bad.map((entry) => `"${entry}"`).join(', ')}: not a CIDR (10.0.0.0/8), !CIDR or docker:<network>`,
    );
  }
  return entries;
}

export function parseCidr(
  text: string,
): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, ...rest] = text.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return undefined;
  const bits = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(bits)) || prefix > bits) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}
