import type { FastifyInstance } from 'fastify';
import type { ExecutionService } from '../../execution/execution-service.js';
import type { SessionService } from '../../session/session-service.js';

/**
 * GET /healthz: the process is alive and serving HTTP (no dependency checks: a liveness probe must
 * not restart the service because dockerd is briefly down).
 * GET /readyz: sandboxes can be started now: docker reachable, runtime registered, images present;
 * `warm` says whether every warm pool has been full since the start (before that, calls start cold).
 * It also says whether sessions can be paused (`session_checkpoint`), which never makes it unready:
 * without checkpoints sessions work as they always did, they just stay resident.
 * GET /readyz?warm=1: the same, but 503 until `warm` (for scripts and start-up probes that want the
 * first calls warm; a readiness probe should not ask it: it stays 503 while pools cannot fill).
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  service: ExecutionService,
  sessions: SessionService,
): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get<{ Querystring: { warm?: string } }>('/readyz', async (request, reply) => {
    const requireWarm = request.query.warm === '1' || request.query.warm === 'true';
    const readiness = await service.readiness({ requireWarm });
    return reply.status(readiness.ready ? 200 : 503).send({
      status: readiness.ready ? 'ready' : 'not ready',
      warm: readiness.warm,
      checks: readiness.checks,
      session_checkpoint: sessions.checkpointing,
    });
  });
}
