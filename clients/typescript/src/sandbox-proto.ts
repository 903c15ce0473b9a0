import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/**
 * The package's own copy of proto/sandbox/v1/sandbox.proto (shipped in `files`; a test checks it is
 * byte for byte the service's). The same relative path from src/ and dist/.
 */
export const SANDBOX_PROTO_PATH = fileURLToPath(
  new URL('../proto/sandbox/v1/sandbox.proto', import.meta.url),
);

/**
 * Loads sandbox.v1.SandboxService from the .proto at run time (no generated code to keep in sync).
 * Field names stay snake_case as in the .proto; 64-bit integers become numbers (every value the
 * service sends fits in 2^53).
 */
export function loadSandboxService(): ServiceClientConstructor {
  const definition = loadSync(SANDBOX_PROTO_PATH, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = loadPackageDefinition(definition) as GrpcObject;
  const v1 = (root.sandbox as GrpcObject).v1 as GrpcObject;
  return v1.SandboxService as ServiceClientConstructor;
}
