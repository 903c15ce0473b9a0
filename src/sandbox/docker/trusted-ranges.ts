import type { Logger } from 'pino';
import type { TrustedNetwork } from '../../config/trusted-networks.js';
import type { DockerClient } from './docker-client.js';
import { dockerNetworkRanges, type DockerNetworkRanges } from './docker-network-ranges.js';

type AddressRange = DockerNetworkRanges['subnets'][number];

/** Addresses whose callers need no token, and addresses carved out of them. */
export interface ResolvedTrustedRanges {
  trusted: AddressRange[];
  excluded: AddressRange[];
}

/**
 * SANDBOX_TRUSTED_NETWORKS as address ranges: CIDRs as given, docker networks looked up through
 * dockerd (their subnets trusted, their gateways excluded). A docker network that does not exist is a
 * configuration error, so this runs before anything starts.
 */
export async function resolveTrustedRanges(
  docker: DockerClient,
  networks: readonly TrustedNetwork[],
  logger: Logger,
): Promise<ResolvedTrustedRanges> {
  const trusted: AddressRange[] = [];
  const excluded: AddressRange[] = [];
  for (const entry of networks) {
    if (entry.kind === 'cidr') {
      (entry.exclude ? excluded : trusted).push(entry);
      continue;
    }
    const ranges = await dockerNetworkRanges(docker, entry.name).catch((error: unknown) => {
      throw new Error(
        `SANDBOX_TRUSTED_NETWORKS: docker network "${entry.name}": ${(error as Error).message}`,
      );
    });
    trusted.push(...ranges.subnets);
    excluded.push(...ranges.gateways);
  }
  const show = (range: AddressRange) => `${range.address}/${range.prefix}`;
  if (trusted.length > 0) {
    logger.info(
      { trusted: trusted.map(show), excluded: excluded.map(show) },
      'calls from these ranges need no token; every other caller does',
    );
  }
  return { trusted, excluded };
}
