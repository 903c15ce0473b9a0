import { join } from 'node:path';
import type { Logger } from 'pino';
import { boundedResolver } from './bounded-resolver.js';
import type { EgressChannel, EgressChannels } from './egress-channel.js';
import type { EgressMetrics } from './egress-metrics.js';
import { EgressProxy, type EgressCaps } from './egress-proxy.js';
import type { HostResolver } from './host-resolver.js';

export interface EgressGatewayOptions {
  /** The socket's file name in a sandbox's job directory (protocol.json paths.egress_socket). */
  socketName: string;
  caps: EgressCaps;
  resolve: HostResolver;
  metrics: EgressMetrics;
  logger: Logger;
}

/**
 * Name lookups running at once for all sandboxes together. The system resolver runs getaddrinfo on
 * libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), which the service's file
 * I/O shares: lookups of names that never answer must leave it threads. Each sandbox runs at most one
 * (see EgressProxy), so one sandbox never holds more than one of these.
 */
const MAX_CONCURRENT_LOOKUPS = 2;

/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Opens one egress proxy per sandbox, on a socket in that sandbox's own job directory (which only that
 * sandbox mounts). Proxies share the resolver (bounded: see MAX_CONCURRENT_LOOKUPS), caps, metrics and audit log, nothing else.
 */
export class EgressGateway implements EgressChannels {
  private readonly resolve: HostResolver;

  constructor(private readonly options: EgressGatewayOptions) {
    this.resolve = boundedResolver(options.resolve, { maxConcurrent: MAX_CONCURRENT_LOOKUPS });
  }

  /**
   * Checked once at start-up: a unix socket path longer than the kernel allows fails every sandbox
   * start, so a work root that deep is refused before anything runs.
   */
  checkSocketPath(jobsRoot: string, sandboxIdLength: number): string | undefined {
    const longest = Buffer.byteLength(join(jobsRoot, 'x'.repeat(sandboxIdLength), this.options.socketName));
    if (longest <= MAX_SOCKET_PATH_BYTES) return undefined;
    return `egress sockets would be ${longest} bytes long under ${jobsRoot} (the limit is ${MAX_SOCKET_PATH_BYTES}): use a shorter SANDBOX_WORK_ROOT or SANDBOX_INSTANCE_ID`;
  }

  async open(sandboxId: string, jobHostDir: string): Promise<EgressChannel> {
    const proxy = new EgressProxy({
      socketPath: join(jobHostDir, this.options.socketName),
      sandboxId,
      caps: this.options.caps,
      resolve: this.resolve,
      metrics: this.options.metrics,
      logger: this.options.logger,
    });
    await proxy.listen();
    return proxy;
  }
}
