import { join } from 'node:path';
import { createRequire } from 'node:module';
import {
  credentials,
  loadPackageDefinition,
  makeClientConstructor,
  type Client,
  type GrpcObject,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';

type Unary = (request: object, callback: (error: ServiceError | null, response: unknown) => void) => void;

/** A grpc.health.v1 client, as a probe or a load balancer would use it. */
export function healthClient(port: number): Client {
  const Health = makeClientConstructor(healthService, 'grpc.health.v1.Health');
  return new Health(`127.0.0.1:${port}`, credentials.createInsecure());
}

/** Health.Check for one service name ("" = the whole server): resolves with the status or the error. */
export function checkHealth(
  client: Client,
  service: string,
): Promise<{ status?: string; error?: ServiceError }> {
  return new Promise((resolve) => {
    (client as unknown as { Check: Unary }).Check({ service }, (error, response) =>
      resolve(error ? { error } : { status: (response as { status: string }).status }),
    );
  });
}

/** Polls Health.Check until it answers `wanted` (the server re-checks readiness on an interval). */
export async function healthBecomes(
  client: Client,
  service: string,
  wanted: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  while (Date.now() < deadline) {
    last = (await checkHealth(client, service)).status;
    if (last === wanted) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`health of "${service}" stayed ${last} instead of becoming ${wanted}`);
}

/** A grpc.reflection.v1 client built from the proto the reflection package ships. */
export function reflectionClient(port: number): Client {
  const protoDir = join(
    createRequire(import.meta.url).resolve('@grpc/reflection/package.json'),
    '..',
    'build',
    'proto',
  );
  const definition = loadSync(join(protoDir, 'grpc/reflection/v1/reflection.proto'), {
    keepCase: true,
    oneofs: true,
    longs: Number,
  });
  const root = loadPackageDefinition(definition) as GrpcObject;
  const v1 = ((root.grpc as GrpcObject).reflection as GrpcObject).v1 as GrpcObject;
  const Reflection = v1.ServerReflection as ServiceClientConstructor;
  return new Reflection(`127.0.0.1:${port}`, credentials.createInsecure());
}

/** One ServerReflectionInfo exchange: sends `request`, returns the single response. */
export function reflect(client: Client, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const call = (
      client as unknown as { ServerReflectionInfo: () => NodeJS.ReadWriteStream }
    ).ServerReflectionInfo();
    call.on('data', (response: Record<string, unknown>) => {
      resolve(response);
      call.end();
    });
    call.on('error', reject);
    call.write(request as never);
  });
}
