/** Loopback addresses only; "0.0.0.0", "::" and hostnames count as reachable from outside. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
