import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { EgressGateway } from '../egress/egress-gateway.js';
import type { HostResolver } from '../egress/host-resolver.js';
import type { PrometheusMetrics } from '../observability/prometheus-metrics.js';
import { SANDBOX_PROTOCOL } from '../sandbox/protocol/sandbox-protocol.js';
import { jobsRootOfThisInstance } from './work-root-layout.js';

/** Sandbox ids are UUIDs (pooled) or execution ids (also UUIDs). */
const SANDBOX_ID_LENGTH = 36;

/**
 * The egress proxies' gateway, or none when the server allows no egress (then sandboxes get no socket,
 * no proxy variables, nothing to try).
 */
export function wireEgress(
  config: Config,
  metrics: PrometheusMetrics,
  resolveHost: HostResolver,
  logger: Logger,
): EgressGateway | undefined {
  const { egress } = config;
  if (egress.ceiling.length === 0) return undefined;
  if (egress.open) {
    logger.warn(
      'SANDBOX_EGRESS_OPEN=true: sandboxes may reach any public host through the egress proxy (logged). Development only.',
    );
  }
  const gateway = new EgressGateway({
    socketName: SANDBOX_PROTOCOL.paths.egress_socket,
    caps: {
      maxConnections: egress.maxConnections,
      maxOpenConnections: egress.maxOpenConnections,
      maxBytes: egress.maxBytes,
    },
    resolve: resolveHost,
    metrics,
    logger: logger.child({ component: 'egress' }),
  });
  const tooLong = gateway.checkSocketPath(jobsRootOfThisInstance(config), SANDBOX_ID_LENGTH);
  if (tooLong) throw new Error(tooLong);
  return gateway;
}
