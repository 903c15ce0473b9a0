import type { Server } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Logger } from 'pino';
import type { Readiness } from '../../execution/execution-service.js';
import { SANDBOX_SERVICE_NAME } from './sandbox-proto.js';

/** The whole server ("") and the one service it offers are reported alike. */
const REPORTED_SERVICES = ['', SANDBOX_SERVICE_NAME];

export interface GrpcHealthOptions {
  /** Same question /readyz answers: can sandboxes be started right now? */
  readiness: () => Promise<Readiness>;
  /** How often readiness is re-checked; Check answers from the last result, Watch gets each change. */
  pollIntervalMs: number;
  logger: Logger;
}

/**
 * grpc.health.v1.Health (the maintained grpc-health-check package) kept in step with readiness by
 * polling, so Kubernetes gRPC probes and grpc_health_probe see the same answer as GET /readyz.
 * Starts NOT_SERVING and goes back to NOT_SERVING for good once shutdown begins.
 */
export class GrpcHealth {
  private readonly health = new HealthImplementation(
    Object.fromEntries(REPORTED_SERVICES.map((name) => [name, 'NOT_SERVING' as ServingStatus])),
  );
  /** Undefined until the first check, so the first state is always logged. */
  private current: ServingStatus | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** A check still running (dockerd hanging) is not stacked with more. */
  private polling = false;

  constructor(private readonly options: GrpcHealthOptions) {}

  addToServer(server: Server): void {
    this.health.addToServer(server);
  }

  /** Checks once now (so the first answer is real), then every poll interval. */
  async start(): Promise<void> {
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.options.pollIntervalMs);
    this.timer.unref();
  }

  /** Reports NOT_SERVING from now on: a draining server should get no new calls. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.set('NOT_SERVING', 'shutting down');
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    const readiness = await this.options
      .readiness()
      .catch((error: unknown): Readiness => ({
        ready: false,
        warm: false,
        checks: [{ name: 'readiness', ok: false, detail: (error as Error).message }],
      }))
      .finally(() => (this.polling = false));
    if (this.stopped) return;
    const failing = readiness.checks
      .filter((check) => !check.ok)
      .map((check) => `${check.name}: ${check.detail}`);
    this.set(readiness.ready ? 'SERVING' : 'NOT_SERVING', failing.join('; '));
  }

  private set(status: ServingStatus, reason: string): void {
    if (status === this.current) return;
    this.current = status;
    for (const name of REPORTED_SERVICES) this.health.setStatus(name, status);
    const level = status === 'SERVING' ? 'info' : 'warn';
    this.options.logger[level]({ status, reason: reason || undefined }, 'readiness changed');
  }
}
