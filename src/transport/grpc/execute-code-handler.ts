import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ExecutionEvent } from '../../domain/execution-result.js';
import type { ExecutionService } from '../../execution/execution-service.js';
import type { SessionService } from '../../session/session-service.js';
import type { CallerAdmission } from '../auth/caller-admission.js';
import { admitCall } from './admit-call.js';
import { toGrpcError } from './grpc-status.js';
import {
  cellFromProto,
  eventToProto,
  requestFromProto,
  type ProtoExecuteCodeRequest,
} from './proto-messages.js';

/**
 * sandbox.v1.SandboxService/ExecuteCode: streams events as they happen. A client cancel or an expired
 * deadline (grpc-js reports both as "cancelled") aborts the execution. With `session_id` the code runs
 * as that session's next cell.
 */
export function executeCodeHandler(
  service: ExecutionService,
  sessions: SessionService,
  admission: CallerAdmission,
  logger: Logger,
) {
  return (call: ServerWritableStream<ProtoExecuteCodeRequest, Record<string, unknown>>): void => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    const write = (message: Record<string, unknown> | undefined) => {
      if (message && !call.cancelled) call.write(message);
    };
    // Inside a promise chain so a request rejected while decoding (bad arguments_json) maps like any other.
    Promise.resolve()
      .then(() => admitCall(call, admission))
      .then(() => {
        const options = {
          signal: controller.signal,
          onEvent: (event: ExecutionEvent) => write(eventToProto(event)),
        };
        return call.request.session_id
          ? sessions.execute(call.request.session_id, cellFromProto(call.request), options)
          : service.execute(requestFromProto(call.request), options);
      })
      .then(
        () => call.end(),
        (error: unknown) => {
          if (!call.cancelled) call.emit('error', toGrpcError(error, logger));
        },
      );
  };
}
