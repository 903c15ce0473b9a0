import type Docker from 'dockerode';
import { parseCidr } from '../../config/trusted-networks.js';

interface Range {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** A docker network's address ranges and its gateways (as single-address ranges). */
export interface DockerNetworkRanges {
  subnets: Range[];
  gateways: Range[];
}

/**
 * Looks a docker network up by name (e.g. RAGFlow's "docker_ragflow"). Its gateways matter because
 * traffic to a port published on the host reaches the container from the gateway address (through
 * docker-proxy or the bridge's NAT), so they must stay outside any trust given to the network.
 * Rejects when the network does not exist or has no IPAM subnet.
 */
export async function dockerNetworkRanges(docker: Docker, name: string): Promise<DockerNetworkRanges> {
  const info = (await docker.getNetwork(name).inspect()) as {
    IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] | null };
  };
  const ranges: DockerNetworkRanges = { subnets: [], gateways: [] };
  for (const entry of info.IPAM?.Config ?? []) {
    const subnet = entry.Subnet ? parseCidr(entry.Subnet) : undefined;
    if (subnet) ranges.subnets.push(subnet);
    const gateway = entry.Gateway ? parseCidr(entry.Gateway.split('/')[0]!) : undefined;
    if (gateway) ranges.gateways.push(gateway);
  }
  if (ranges.subnets.length === 0) throw new Error(`docker network ${name} has no IPAM subnet`);
  return ranges;
}
