import type { HostResolver } from './host-resolver.js';

/** How far one resolver may be used at once, and how long a caller waits for an answer. */
export interface ResolverBounds {
  /** Lookups running at once; later ones queue. */
  maxConcurrent: number;
  /** A caller's answer after this long (queued time included) is an ETIMEOUT error; undefined: no limit. */
  timeoutMs?: number;
}

/**
 * A resolver that runs at most `maxConcurrent` lookups of `resolve` at once and gives up waiting
 * after `timeoutMs`. The system resolver is getaddrinfo on libuv's thread pool (4 threads by default,
 * shared with the service's file I/O), and a lookup of a name whose servers never answer holds its
 * thread until glibc gives up, whatever the caller does: so a slot is freed only when the lookup
 * itself ends, not when its caller stopped waiting, and the bound is on threads really held. A lookup
 * whose caller gave up while it was still queued is never started.
 */
export function boundedResolver(resolve: HostResolver, bounds: ResolverBounds): HostResolver {
  let running = 0;
  const queue: (() => void)[] = [];
  const next = () => {
    while (running < bounds.maxConcurrent && queue.length > 0) queue.shift()?.();
  };
  return (host) =>
    new Promise<string[]>((fulfil, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome();
      };
      const timer =
        bounds.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              const error = new Error(`resolving ${host} took over ${bounds.timeoutMs} ms`);
              settle(() => reject(Object.assign(error, { code: 'ETIMEOUT' })));
            }, bounds.timeoutMs);
      queue.push(() => {
        if (settled) return; // its caller has gone: take no slot
        running += 1;
        const done = () => {
          running -= 1;
          next();
        };
        Promise.resolve()
          .then(() => resolve(host))
          .then(
            (addresses) => {
              done();
              settle(() => fulfil(addresses));
            },
            (error: unknown) => {
              done();
              settle(() => reject(error instanceof Error ? error : new Error(String(error))));
            },
          );
      });
      next();
    });
}
