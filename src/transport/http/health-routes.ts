import type { FastifyInstance } from 'fastify';
import type { ExecutionService } from '../../execution/execution-service.js';

/**
 * GET /healthz: the process is alive and serving HTTP (no dependency checks: a liveness probe must
 * not restart the service because dockerd is briefly down).
 * GET /readyz: sandboxes can be started now: docker reachable, runtime registered, images present.
 */
export function registerHealthRoutes(app: FastifyInstance, service: ExecutionService): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const readiness = await service.readiness();
    return reply.status(readiness.ready ? 200 : 503).send({
      status: readiness.ready ? 'ready' : 'not ready',
      checks: readiness.checks,
    });
  });
}
