import { Metadata, type Client, type ServiceError } from '@grpc/grpc-js';

/** One unary call of a proto-loader client by method name, as a promise of its plain response. */
export function unary(
  client: Client,
  method: string,
  request: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const call = (client as unknown as Record<string, (...args: unknown[]) => void>)[method]!;
  return new Promise((resolve, reject) =>
    call.call(
      client,
      request,
      new Metadata(),
      (error: ServiceError | null, response: Record<string, unknown>) =>
        error ? reject(error) : resolve(response),
    ),
  );
}

/** Runs one cell in a session (ExecuteCode with its id); resolves with its result, rejects unless "ok". */
export function sessionCell(
  client: Client,
  sessionId: string,
  code: string,
): Promise<Record<string, unknown>> {
  const call = (client as unknown as Record<string, (...args: unknown[]) => NodeJS.EventEmitter>)
    .ExecuteCode!;
  return new Promise((resolve, reject) => {
    let result: Record<string, unknown> | undefined;
    const stream = call.call(client, { session_id: sessionId, code }, new Metadata());
    stream.on('data', (message: { result?: Record<string, unknown> }) => (result = message.result ?? result));
    stream.on('error', reject);
    stream.on('end', () =>
      result?.exit_reason === 'ok'
        ? resolve(result)
        : reject(new Error(`${String(result?.exit_reason)}: ${String(result?.detail)}`)),
    );
  });
}
