import {
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  type Metadata,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { UnauthenticatedError } from '../../errors/service-error.js';
import { grpcPeerAddress, type CallerAdmission, type CallerIdentity } from '../auth/caller-admission.js';
import { presentedToken } from '../auth/token-authenticator.js';
import { raiseReceiveLimit, stopReceiving } from './base-call-internals.js';
import { toGrpcError } from './grpc-status.js';

/** Every method under this prefix needs admission; health and reflection stay open. */
export const SANDBOX_SERVICE_PATH_PREFIX = '/sandbox.v1.SandboxService/';

export interface GrpcAdmissionOptions {
  /** Largest request message per method path, for methods allowed more than the server-wide limit. */
  receiveLimits: Readonly<Record<string, number>>;
  logger: Logger;
}

/**
 * Admission of sandbox.v1 calls on their metadata, before a single byte of their message is read.
 * `interceptor` must be the server's first interceptor. A refused call ends UNAUTHENTICATED with its
 * HTTP/2 stream still paused, so a large request costs the server its headers and one flow-control
 * window, not its message. An admitted call gets its method's receive limit and its caller identity,
 * which handlers read with `callerOf(call.metadata)` (grpc-js hands them the same Metadata object).
 */
export class GrpcAdmission {
  private readonly callers = new WeakMap<Metadata, CallerIdentity>();

  constructor(
    private readonly admission: CallerAdmission,
    private readonly options: GrpcAdmissionOptions,
  ) {}

  readonly interceptor: ServerInterceptor = (method, call) => {
    if (!method.path.startsWith(SANDBOX_SERVICE_PATH_PREFIX)) return new ServerInterceptingCall(call);
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        let caller: CallerIdentity;
        try {
          caller = this.admit(metadata, call.getPeer());
        } catch (error) {
          // On the inner call: ours would hold the status back until the metadata is passed on.
          call.sendStatus(toGrpcError(error, this.options.logger));
          stopReceiving(call);
          return;
        }
        this.callers.set(metadata, caller);
        const limit = this.options.receiveLimits[method.path];
        if (limit !== undefined && !raiseReceiveLimit(call, limit)) {
          this.options.logger.warn(
            { method: method.path },
            "cannot raise this call's receive limit (grpc-js changed?): large requests will be refused",
          );
        }
        next(metadata);
      })
      .build();
    return new ServerInterceptingCall(
      call,
      new ResponderBuilder().withStart((next) => next(listener)).build(),
    );
  };

  /** The identity the interceptor admitted this call as; a call it never saw is refused. */
  callerOf(metadata: Metadata): CallerIdentity {
    const caller = this.callers.get(metadata);
    if (caller === undefined) throw new UnauthenticatedError();
    return caller;
  }

  private admit(metadata: Metadata, peer: string): CallerIdentity {
    const value = (key: string) => metadata.get(key)[0]?.toString();
    const token = presentedToken(value('authorization'), value('x-sandbox-token'));
    return this.admission.admit('grpc', grpcPeerAddress(peer), token).caller;
  }
}
