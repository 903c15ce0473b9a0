import { join } from 'node:path';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { packageRoot } from '../../config/package-root.js';

export const SANDBOX_PROTO_PATH = join(packageRoot(), 'proto', 'sandbox', 'v1', 'sandbox.proto');
export const SANDBOX_SERVICE_NAME = 'sandbox.v1.SandboxService';

/**
 * Loads sandbox.v1 from the .proto at run time (no generated code to keep in sync). Field names stay
 * snake_case as in the .proto; 64-bit integers become JS numbers (all our values fit in 2^53).
 */
export function loadSandboxPackageDefinition(): PackageDefinition {
  return loadSync(SANDBOX_PROTO_PATH, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
}

export function loadSandboxService(definition = loadSandboxPackageDefinition()): ServiceClientConstructor {
  const root = loadPackageDefinition(definition) as GrpcObject;
  const v1 = (root.sandbox as GrpcObject).v1 as GrpcObject;
  return v1.SandboxService as ServiceClientConstructor;
}
