import { isIP } from 'node:net';
import { matchingRules, normalizeHost, type NetworkPolicy } from '../domain/network-policy.js';
import type { HostResolver } from './host-resolver.js';
import { specialAddressKind } from './special-address.js';

export type DestinationDecision =
  { allowed: true; host: string; address: string } | { allowed: false; host: string; reason: string };

/**
 * Decides whether one execution may open a connection to `host`:`port`, and to which address. The
 * name must be allowed by the policy; it is resolved here, and an address in a special range
 * (loopback, private, link-local, metadata…) is refused unless an allowing rule comes from the
 * operator's list naming this exact host. The caller connects to the returned address, never to the
 * name again, so the answer cannot change between the check and the connection.
 */
export async function checkDestination(
  policy: NetworkPolicy,
  rawHost: string,
  port: number,
  resolve: HostResolver,
): Promise<DestinationDecision> {
  const host = normalizeHost(rawHost);
  if (host === undefined) return { allowed: false, host: rawHost.slice(0, 255), reason: 'not a valid host' };
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return { allowed: false, host, reason: 'not a valid port' };
  }
  if (policy.rules.length === 0)
    return { allowed: false, host, reason: 'no egress allowed for this execution' };
  const rules = matchingRules(policy, host, port);
  if (rules.length === 0) return { allowed: false, host, reason: 'not in the allowlist' };
  const mayReachPrivate = rules.some((rule) => rule.reachesPrivate);

  let addresses: string[];
  try {
    addresses = isIP(host) !== 0 ? [host] : await resolve(host);
  } catch (error) {
    return {
      allowed: false,
      host,
      reason: `cannot resolve (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    };
  }
  let refused: string | undefined;
  for (const address of addresses) {
    const kind = specialAddressKind(address);
    if (kind === undefined || mayReachPrivate) return { allowed: true, host, address };
    refused ??= `resolves to a ${kind} address (${address}); only an exact host in SANDBOX_EGRESS_ALLOW may`;
  }
  return { allowed: false, host, reason: refused ?? 'resolves to no address' };
}
