import { constants } from 'node:http2';
import type { ServerInterceptingCallInterface } from '@grpc/grpc-js';

/**
 * The private state of grpc-js's innermost server call (BaseServerInterceptingCall, 1.10 to 1.14):
 * its frame decoder, which refuses a message whose length prefix exceeds `maxReadMessageLength`
 * before reading its body, and the limit on a decompressed message.
 */
interface BaseCallInternals {
  decoder: { maxReadMessageLength: number };
  maxReceiveMessageSize: number;
}

/** The HTTP/2 stream of grpc-js's innermost server call. */
interface BaseCallStream {
  stream: { close(code: number): void; destroyed: boolean };
}

function hasInternals(call: object): call is BaseCallInternals {
  const { decoder, maxReceiveMessageSize } = call as Partial<BaseCallInternals>;
  return (
    typeof maxReceiveMessageSize === 'number' &&
    typeof decoder === 'object' &&
    decoder !== null &&
    typeof decoder.maxReadMessageLength === 'number'
  );
}

/**
 * Raises one call's receive limit above the server-wide one, before its first message is read.
 *
 * grpc-js has a single `grpc.max_receive_message_length` per server. It is set to the smallest
 * limit any method needs, so health checks, reflection and every call not yet admitted are refused
 * at a small message's length prefix by grpc-js itself; an admitted call to a method that needs more
 * (ExecuteCode, CreateSession, UploadFile) gets its own limit here. grpc-js offers no public way to do
 * this, so it reaches into the base call; `call` must be the one an interceptor first in the chain
 * receives. When grpc-js changes shape this returns false and the call keeps the small limit: large
 * requests are then refused (RESOURCE_EXHAUSTED, and an integration test fails), never let through.
 */
export function raiseReceiveLimit(call: ServerInterceptingCallInterface, bytes: number): boolean {
  if (!hasInternals(call)) return false;
  call.decoder.maxReadMessageLength = Math.max(call.decoder.maxReadMessageLength, bytes);
  call.maxReceiveMessageSize = Math.max(call.maxReceiveMessageSize, bytes);
  return true;
}

/**
 * Asks the client to stop sending a call's message, once the call has been answered (RFC 9113 8.1:
 * RST_STREAM with NO_ERROR after a complete response). grpc-js itself resumes a finished call's
 * stream to read and discard whatever still arrives; a refused client sending a large message would
 * otherwise keep the server reading it to the end. `call` as for raiseReceiveLimit; when grpc-js
 * changes shape, nothing happens (the rest is read and discarded, as without this).
 */
export function stopReceiving(call: ServerInterceptingCallInterface): void {
  const { stream } = call as Partial<BaseCallStream>;
  if (typeof stream?.close === 'function' && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
}
