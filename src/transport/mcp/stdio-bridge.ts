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
 * Resolves when the agent closes stdin.
 */
export async function runStdioBridge(options: StdioBridgeOptions): Promise<void> {
  const { endpoint, token, log } = options;
  const local = new StdioServerTransport(options.stdin as never, options.stdout as never);
  const inFlight = new Map<RequestId, StreamableHTTPClientTransport>();
  let protocolVersion: string | undefined;

  const upstream = () => {
    const transport = new StreamableHTTPClientTransport(endpoint, {
      requestInit: { headers: token ? { authorization: `Bearer ${token}` } : {} },
    });
    if (protocolVersion) transport.setProtocolVersion(protocolVersion);
    transport.onerror = (error) => log(`upstream: ${error.message}`);
    return transport;
  };
  const reply = (message: JSONRPCMessage) =>
    local.send(message).catch((error: unknown) => log(`stdout: ${(error as Error).message}`));

  const forwardRequest = async (message: JSONRPCMessage & { id: RequestId; method: string }) => {
    const transport = upstream();
    inFlight.set(message.id, transport);
    const settle = () => {
      if (inFlight.get(message.id) === transport) inFlight.delete(message.id);
      void transport.close();
    };
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
      settle();
      // A request dropped on purpose (cancelled) is answered by nobody, as the protocol says.
      if ((error as Error).name === 'AbortError') return;
      log(`${message.method}: ${(error as Error).message}`);
      void reply({ jsonrpc: '2.0', id: message.id, error: refusal(error, endpoint) });
    }
  };

  const forwardNotification = async (message: JSONRPCMessage & { method: string }) => {
    const params = (message as { params?: { requestId?: RequestId } }).params;
    if (message.method === 'notifications/cancelled' && params?.requestId !== undefined) {
      // Dropping the request's connection is what cancels it on the service.
      const transport = inFlight.get(params.requestId);
      inFlight.delete(params.requestId);
      await transport?.close();
      return;
    }
    const transport = upstream();
    try {
      await transport.start();
      await transport.send(message);
    } catch (error) {
      log(`${message.method}: ${(error as Error).message}`);
    } finally {
      await transport.close();
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
  for (const transport of inFlight.values()) await transport.close();
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
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  return {
    code: JSON_RPC_CODE_BY_SERVICE_CODE.UNAVAILABLE,
    message: `cannot reach code-sandbox at ${endpoint.origin}: ${cause ?? (error as Error).message} (check --url or CODE_SANDBOX_URL)`,
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
