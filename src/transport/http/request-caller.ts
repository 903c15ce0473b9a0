import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnauthenticatedError } from '../../errors/service-error.js';
import type { CallerIdentity } from '../auth/caller-admission.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the admission hook; '' until then. Read it with requestCaller. */
    caller: CallerIdentity | '';
  }
}

/** Lets an admission hook in `app`'s scope record who each request is. */
export function decorateRequestCaller(app: FastifyInstance): void {
  app.decorateRequest('caller', '');
}

/** The identity the admission hook admitted this request as; a request it never saw is refused. */
export function requestCaller(request: FastifyRequest): CallerIdentity {
  if (request.caller === '') throw new UnauthenticatedError();
  return request.caller;
}
