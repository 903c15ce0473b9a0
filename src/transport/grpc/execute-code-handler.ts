import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ExecutionService } from '../../execution/execution-service.js';
import { grpcPeerAddress, type CallerAdmission } from '../auth/caller-admission.js';
import { presentedToken } from '../auth/token-authenticator.js';
import { toGrpcError } from './grpc-status.js';
import { eventToProto, requestFromProto, type ProtoExecuteCodeRequest } from './proto-messages.js';

/**
 * sandbox.v1.SandboxService/ExecuteCode: streams events as they happen. A client cancel or an expired
 * deadline (grpc-js reports both as "cancelled") aborts the execution.
 */
export function executeCodeHandler(service: ExecutionService, admission: CallerAdmission, logger: Logger) {
  return (call: ServerWritableStream<ProtoExecuteCodeRequest, Record<string, unknown>>): void => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    const write = (message: Record<string, unknown> | undefined) => {
      if (message && !call.cancelled) call.write(message);
    };
    // Inside a promise chain so a request rejected while decoding (bad arguments_json) maps like any other.
    Promise.resolve()
      .then(() => {
        const metadataValue = (key: string) => call.metadata.get(key)[0]?.toString();
        const token = presentedToken(metadataValue('authorization'), metadataValue('x-sandbox-token'));
        admission.admit('grpc', grpcPeerAddress(call.getPeer()), token);
      })
      .then(() =>
        service.execute(requestFromProto(call.request), {
          signal: controller.signal,
          onEvent: (event) => write(eventToProto(event)),
        }),
      )
      .then(
        () => call.end(),
        (error: unknown) => {
          if (!call.cancelled) call.emit('error', toGrpcError(error, logger));
        },
      );
  };
}
