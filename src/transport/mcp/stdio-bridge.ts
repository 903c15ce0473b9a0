import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import {
  ErrorCode,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { ServiceErrorCode } from '../../errors/service-error.js';
import { JSON_RPC_CODE_BY_SERVICE_CODE } from './mcp-errors.js';

export interface StdioBridgeOptions {
  /** The service's MCP endpoint, e.g. http://127.0.0.1:9385/mcp. */
  endpoint: URL;
  /** Sent as `Authorization: Bearer`; none for a trusted network or an open service. */
  token: string | undefined;
  /** Diagnostics; stdout carries the protocol, so these go to stderr. */
  log(message: string): void;
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
}

/** The service's status codes as the service codes it sends them for (http-errors.ts), for a refused POST. */
const SERVICE_CODE_BY_HTTP_STATUS: Record<number, ServiceErrorCode> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  404: 'NOT_FOUND',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  503: 'UNAVAILABLE',
};

/**
 * MCP over stdio for desktop agents, forwarded message by message to a running service's /mcp
 * (Streamable HTTP). Each request from the agent is POSTed on a transport of its own, whose SSE
 * stream brings back that request's progress notifications and its response; so a
 * `notifications/cancelled` from the agent can end exactly that request by dropping its connection,
 * which the (stateless) service answers by cancelling the execution. A POST the service refuses (a
 * wrong token, the service down) becomes a JSON-RPC error for that request naming the reason.
 * Resolves when the agent has closed stdin and every request it sent is answered.
 */
export async function runStdioBridge(options: StdioBridgeOptions): Promise<void> {
  const { endpoint, token, log } = options;
  const local = new StdioServerTransport(options.stdin as never, options.stdout as never);
  /** Requests sent on and not yet answered: settling one drops its connection. */
  const inFlight = new Map<RequestId, () => void>();
  const unanswered = new Set<Promise<void>>();
  // Transports closed on purpose: the aborted reads that follow are no news.
  const finished = new WeakSet<StreamableHTTPClientTransport>();
  let protocolVersion: string | undefined;

  const upstream = () => {
    const transport = new StreamableHTTPClientTransport(endpoint, {
      requestInit: { headers: token ? { authorization: `Bearer ${token}` } : {} },
    });
    if (protocolVersion) transport.setProtocolVersion(protocolVersion);
    transport.onerror = (error) => {
      if (!finished.has(transport)) log(`upstream: ${error.message}`);
    };
    return transport;
  };
  const finish = (transport: StreamableHTTPClientTransport) => {
    finished.add(transport);
    return transport.close();
  };
  const reply = (message: JSONRPCMessage) =>
    local.send(message).catch((error: unknown) => log(`stdout: ${(error as Error).message}`));

  const forwardRequest = async (message: JSONRPCMessage & { id: RequestId; method: string }) => {
    const transport = upstream();
    let answered: () => void = () => undefined;
    const outstanding = new Promise<void>((resolve) => (answered = resolve));
    unanswered.add(outstanding);
    const settle = () => {
      if (inFlight.get(message.id) === settle) inFlight.delete(message.id);
      unanswered.delete(outstanding);
      answered();
      void finish(transport);
    };
    inFlight.set(message.id, settle);
    // A refused POST, or a stream that broke before the answer: the agent gets an error for it. Not
    // after the request was settled (answered, or cancelled by the agent).
    const fail = (error: unknown) => {
      if (finished.has(transport)) return;
      settle();
      log(`${message.method}: ${(error as Error).message}`);
      void reply({ jsonrpc: '2.0', id: message.id, error: refusal(error, endpoint) });
    };
    transport.onerror = fail;
    transport.onmessage = (received) => {
      const answers =
        (isJSONRPCResultResponse(received) || isJSONRPCErrorResponse(received)) && received.id === message.id;
      if (answers && message.method === 'initialize' && isJSONRPCResultResponse(received)) {
        protocolVersion = String(received.result.protocolVersion);
      }
      void reply(received);
      if (answers) settle();
    };
    try {
      await transport.start();
      await transport.send(message);
    } catch (error) {
      fail(error);
    }
  };

  const forwardNotification = async (message: JSONRPCMessage & { method: string }) => {
    const params = (message as { params?: { requestId?: RequestId } }).params;
    if (message.method === 'notifications/cancelled' && params?.requestId !== undefined) {
      // Dropping the request's connection is what cancels it on the service; nothing answers it.
      inFlight.get(params.requestId)?.();
      return;
    }
    const transport = upstream();
    try {
      await transport.start();
      await transport.send(message);
    } catch (error) {
      log(`${message.method}: ${(error as Error).message}`);
    } finally {
      await finish(transport);
    }
  };

  local.onmessage = (message) => {
    if (isJSONRPCRequest(message)) void forwardRequest(message);
    else if (isJSONRPCNotification(message)) void forwardNotification(message);
    // The service sends the agent no requests, so no responses come back to forward.
  };
  local.onerror = (error) => log(`stdin: ${error.message}`);
  const stdin = options.stdin ?? process.stdin;
  const ended = new Promise<void>((resolve) => {
    stdin.once('end', resolve);
    stdin.once('close', resolve);
  });
  await local.start();
  await ended;
  // The agent is done sending; what it asked for is still answered (a signal ends the process sooner,
  // dropping the connections, which cancels on the service whatever still runs).
  await Promise.all(unanswered);
  await local.close();
}

/** Why the service refused a POST, as a JSON-RPC error the agent shows. */
function refusal(error: unknown, endpoint: URL): { code: number; message: string } {
  if (error instanceof StreamableHTTPError && error.code !== undefined) {
    const serviceCode = SERVICE_CODE_BY_HTTP_STATUS[error.code];
    const detail = serviceMessage(error.message) ?? error.message;
    const hint = error.code === 401 ? ' (check --token or CODE_SANDBOX_TOKEN)' : '';
    return {
      code: serviceCode ? JSON_RPC_CODE_BY_SERVICE_CODE[serviceCode] : ErrorCode.InternalError,
      message: `code-sandbox at ${endpoint.origin} answered HTTP ${error.code}: ${detail}${hint}`,
    };
  }
  // fetch says only "fetch failed"; its cause says why (ECONNREFUSED, ENOTFOUND, …).
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (error as Error).message;
  return {
    code: JSON_RPC_CODE_BY_SERVICE_CODE.UNAVAILABLE,
    message: `cannot reach code-sandbox at ${endpoint.origin}: ${reason} (check --url or CODE_SANDBOX_URL)`,
  };
}

/** The service's own message from an error body (`{"error": {"message"}}`) inside the SDK's error text. */
function serviceMessage(text: string): string | undefined {
  const json = text.slice(text.indexOf('{'));
  try {
    const body = JSON.parse(json) as { error?: { message?: unknown } };
    return typeof body.error?.message === 'string' ? body.error.message : undefined;
  } catch {
    return undefined;
  }
}
