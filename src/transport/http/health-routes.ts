import type { FastifyInstance } from 'fastify';
import type { ExecutionService } from '../../execution/execution-service.js';
import type { SessionService } from '../../session/session-service.js';

/**
 * GET /healthz: the process is alive and serving HTTP (no dependency checks: a liveness probe must
 * not restart the service because dockerd is briefly down).
 * GET /readyz: sandboxes can be started now: docker reachable, runtime registered, images present.
 * It also says whether sessions can be paused (`session_checkpoint`), which never makes it unready:
 * without checkpoints sessions work as they always did, they just stay resident.
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  service: ExecutionService,
  sessions: SessionService,
): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const readiness = await service.readiness();
    return reply.status(readiness.ready ? 200 : 503).send({
      status: readiness.ready ? 'ready' : 'not ready',
      checks: readiness.checks,
      session_checkpoint: sessions.checkpointing,
    });
  });
}
