import { lookup } from 'node:dns/promises';

/**
 * Resolves a host name to its addresses, on the service's side: a sandbox has no resolver of its own,
 * so what a name means is decided here, never by the program. Injected so tests can point names at
 * loopback test servers.
 */
export type HostResolver = (host: string) => Promise<string[]>;

/** The system resolver (getaddrinfo: /etc/hosts, then DNS), all addresses in the order it gives them. */
export const systemResolver: HostResolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
