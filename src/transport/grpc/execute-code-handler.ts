import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ExecutionService } from '../../execution/execution-service.js';
import { CancelledError } from '../../errors/service-error.js';
import { grpcPeerAddress, type CallerAdmission } from '../auth/caller-admission.js';
import { presentedToken } from '../auth/token-authenticator.js';
import { BackpressuredWriter } from '../backpressured-writer.js';
import { detachedEvent } from '../detached-event.js';
import { toGrpcError } from './grpc-status.js';
import { eventToProto, requestFromProto, type ProtoExecuteCodeRequest } from './proto-messages.js';

type ProtoMessage = Record<string, unknown>;

/**
 * sandbox.v1.SandboxService/ExecuteCode: streams events as they happen, as fast as the client reads
 * them. A client cancel or an expired deadline (grpc-js reports both as "cancelled") aborts the
 * execution; so does a client that stops reading for `writeTimeoutMs` (the call then ends CANCELLED).
 */
export function executeCodeHandler(
  service: ExecutionService,
  admission: CallerAdmission,
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
        const metadataValue = (key: string) => call.metadata.get(key)[0]?.toString();
        const token = presentedToken(metadataValue('authorization'), metadataValue('x-sandbox-token'));
        admission.admit('grpc', peer, token);
      })
      .then(() =>
        service.execute(requestFromProto(call.request), {
          signal: controller.signal,
          // The peer's address without its port: one client, however many connections it opens.
          clientKey: peer,
          onEvent: (event) => {
            const message = eventToProto(detachedEvent(event));
            if (message) writer.push(message);
          },
        }),
      )
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
