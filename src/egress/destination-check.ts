import { formatIpAddress, parseIpLiteral } from '../domain/ip-literal.js';
import { matchingRules, normalizeHost, type NetworkPolicy } from '../domain/network-policy.js';
import type { HostResolver } from './host-resolver.js';
import { specialKindOf } from './special-address.js';

export type DestinationDecision =
  { allowed: true; host: string; address: string } | { allowed: false; host: string; reason: string };

/**
 * Decides whether one execution may open a connection to `host`:`port`, and to which address. The
 * name must be allowed by the policy; it is resolved here, and an address in a special range
 * (loopback, private, link-local, metadata…) is refused unless an allowing rule comes from the
 * operator's list naming this exact host. Addresses are judged by their bytes (see specialKindOf), and
 * the one returned is in canonical text (see formatIpAddress). The caller connects to it, never to
 * the name again, so the answer cannot change between the check and the connection.
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
    // normalizeHost gave an IP literal its canonical text, and refused the shorthands a resolver reads.
    addresses = parseIpLiteral(host) ? [host] : await resolve(host);
  } catch (error) {
    return {
      allowed: false,
      host,
      reason: `cannot resolve (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    };
  }
  let refused: string | undefined;
  for (const answer of addresses) {
    const parsed = parseIpLiteral(answer);
    if (!parsed) {
      refused ??= `resolves to an address the proxy cannot judge (${answer.slice(0, 64)})`;
      continue;
    }
    const address = formatIpAddress(parsed);
    const kind = specialKindOf(parsed);
    if (kind === undefined || mayReachPrivate) return { allowed: true, host, address };
    refused ??= `resolves to a ${kind} address (${address}); only an exact host in SANDBOX_EGRESS_ALLOW may`;
  }
  return { allowed: false, host, reason: refused ?? 'resolves to no address' };
}
