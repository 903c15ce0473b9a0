import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ExecutionService } from '../../execution/execution-service.js';
import type { SessionService } from '../../session/session-service.js';
import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import { checkCallToken } from './call-token.js';
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
  authenticator: TokenAuthenticator,
  logger: Logger,
) {
  return (call: ServerWritableStream<ProtoExecuteCodeRequest, Record<string, unknown>>): void => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    const options = {
      signal: controller.signal,
      onEvent: (event: Parameters<typeof eventToProto>[0]) => {
        const message = eventToProto(event);
        if (message && !call.cancelled) call.write(message);
      },
    };
    // Inside a promise chain so a request rejected while decoding (bad arguments_json) maps like any other.
    Promise.resolve()
      .then(() => checkCallToken(call.metadata, authenticator))
      .then(() =>
        call.request.session_id
          ? sessions.execute(call.request.session_id, cellFromProto(call.request), options)
          : service.execute(requestFromProto(call.request), options),
      )
      .then(
        () => call.end(),
        (error: unknown) => {
          if (!call.cancelled) call.emit('error', toGrpcError(error, logger));
        },
      );
  };
}
