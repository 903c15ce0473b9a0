import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ExecutionService } from '../../execution/execution-service.js';
import { toGrpcError } from './grpc-status.js';
import { eventToProto, requestFromProto, type ProtoExecuteCodeRequest } from './proto-messages.js';

/**
 * sandbox.v1.SandboxService/ExecuteCode: streams events as they happen. A client cancel or an expired
 * deadline (grpc-js reports both as "cancelled") aborts the execution.
 */
export function executeCodeHandler(service: ExecutionService, logger: Logger) {
  return (call: ServerWritableStream<ProtoExecuteCodeRequest, Record<string, unknown>>): void => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    const write = (message: Record<string, unknown>) => {
      if (!call.cancelled) call.write(message);
    };
    service
      .execute(requestFromProto(call.request), {
        signal: controller.signal,
        onEvent: (event) => write(eventToProto(event)),
      })
      .then(
        () => call.end(),
        (error: unknown) => {
          if (!call.cancelled) call.emit('error', toGrpcError(error, logger));
        },
      );
  };
}
