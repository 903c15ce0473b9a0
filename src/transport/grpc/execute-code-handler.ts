import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ExecuteOptions, ExecutionService } from '../../execution/execution-service.js';
import { CancelledError } from '../../errors/service-error.js';
import type { SessionService } from '../../session/session-service.js';
import { grpcPeerAddress } from '../auth/caller-admission.js';
import { BackpressuredWriter } from '../backpressured-writer.js';
import { detachedEvent } from '../detached-event.js';
import type { GrpcAdmission } from './grpc-admission.js';
import { toGrpcError } from './grpc-status.js';
import {
  cellFromProto,
  eventToProto,
  requestFromProto,
  type ProtoExecuteCodeRequest,
} from './proto-messages.js';

type ProtoMessage = Record<string, unknown>;

/**
 * sandbox.v1.SandboxService/ExecuteCode: streams events as they happen, as fast as the client reads
 * them. A client cancel or an expired deadline (grpc-js reports both as "cancelled") aborts the
 * execution; so does a client that stops reading for `writeTimeoutMs` (the call then ends CANCELLED).
 * With `session_id` the code runs as that session's next cell.
 */
export function executeCodeHandler(
  service: ExecutionService,
  sessions: SessionService,
  admission: GrpcAdmission,
  logger: Logger,
  writeTimeoutMs: number,
) {
  return (call: ServerWritableStream<ProtoExecuteCodeRequest, ProtoMessage>): void => {
    const peer = grpcPeerAddress(call.getPeer());
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    const writer = new BackpressuredWriter<ProtoMessage, ProtoMessage>(call, (message) => [message], {
      stallTimeoutMs: writeTimeoutMs,
      onStall: () => controller.abort(),
      signal: controller.signal,
    });
    // Inside a promise chain so a request rejected while decoding (bad arguments_json) maps like any other.
    Promise.resolve()
      .then(() => {
        const caller = admission.callerOf(call.metadata);
        const options: ExecuteOptions = {
          signal: controller.signal,
          // The peer's address without its port: one client, however many connections it opens.
          clientKey: peer,
          onEvent: (event) => {
            const message = eventToProto(detachedEvent(event));
            if (message) writer.push(message);
          },
        };
        return call.request.session_id
          ? sessions.execute(caller, call.request.session_id, cellFromProto(call.request), options)
          : service.execute(requestFromProto(call.request), options);
      })
      .then(async () => {
        // Everything is handed over unless the client left (nothing to end) or stopped reading.
        if (await writer.flushed()) call.end();
        else if (writer.stalled) {
          throw new CancelledError(`the client read nothing for ${writeTimeoutMs} ms: execution cancelled`);
        }
      })
      .catch((error: unknown) => {
        if (!call.cancelled) call.emit('error', toGrpcError(error, logger));
      });
  };
}
