import { join } from 'node:path';
import {
  credentials,
  loadPackageDefinition,
  Metadata,
  type Client,
  type ClientReadableStream,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { packageRoot } from '../../config/package-root.js';

/** containerd's API protos, vendored (see proto/containerd/README.md), by import path. */
const SERVICES = ['containers', 'tasks', 'snapshots', 'images', 'content', 'events', 'version'] as const;
type ServiceName = (typeof SERVICES)[number];
const RUNC_OPTIONS_PROTO = 'github.com/containerd/containerd/runtime/v2/runc/options/oci.proto';

/** containerd's gRPC status codes we act on (grpc.status). */
export const GRPC_NOT_FOUND = 5;
export const GRPC_ALREADY_EXISTS = 6;
export const GRPC_FAILED_PRECONDITION = 9;
export const GRPC_UNAVAILABLE = 14;

type Unary = (
  request: unknown,
  metadata: Metadata,
  options: object,
  callback: (error: Error | null, response: unknown) => void,
) => void;
type ServerStream = (request: unknown, metadata: Metadata) => ClientReadableStream<unknown>;

function loadDefinition() {
  const root = join(packageRoot(), 'proto/containerd');
  const files = SERVICES.map(
    (service) => `github.com/containerd/containerd/api/services/${service}/v1/${service}.proto`,
  );
  return loadSync([...files, RUNC_OPTIONS_PROTO], {
    includeDirs: [root],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
}

/**
 * A client of one containerd, scoped to one containerd namespace (every call carries the
 * `containerd-namespace` header): the services the containerd backend uses, as promises.
 */
export class ContainerdApi {
  private readonly clients: Record<ServiceName, Client>;
  private readonly metadata = new Metadata();
  /** Field number of runc's Options.binary_name, read from the vendored proto (see runcOptions). */
  readonly runcBinaryNameField: number;

  constructor(
    readonly socket: string,
    readonly namespace: string,
  ) {
    const definition = loadDefinition();
    const api = loadPackageDefinition(definition) as unknown as {
      containerd: {
        services: Record<ServiceName, { v1: Record<string, new (...args: unknown[]) => Client> }>;
      };
    };
    const clientNames: Record<ServiceName, string> = {
      containers: 'Containers',
      tasks: 'Tasks',
      snapshots: 'Snapshots',
      images: 'Images',
      content: 'Content',
      events: 'Events',
      version: 'Version',
    };
    const address = `unix://${socket}`;
    this.clients = Object.fromEntries(
      SERVICES.map((service) => {
        const Constructor = api.containerd.services[service].v1[clientNames[service]]!;
        // Large spec and content messages; containerd's own default limit is 16 MiB.
        return [
          service,
          new Constructor(address, credentials.createInsecure(), {
            'grpc.max_receive_message_length': 16 * 1024 * 1024,
          }),
        ];
      }),
    ) as Record<ServiceName, Client>;
    this.metadata.set('containerd-namespace', namespace);
    const options = definition['containerd.runc.v1.Options'] as unknown as {
      type: { field: { name: string; number: number }[] };
    };
    this.runcBinaryNameField = options.type.field.find((field) => field.name === 'binary_name')!.number;
  }

  /** One unary call, e.g. call('tasks', 'Create', {...}). */
  call<T = Record<string, unknown>>(
    service: ServiceName,
    method: string,
    request: object,
    deadlineMs?: number,
  ): Promise<T> {
    const client = this.clients[service] as unknown as Record<string, Unary>;
    const options = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
    return new Promise((resolve, reject) => {
      client[method]!.call(client, request, this.metadata, options, (error, response) =>
        error ? reject(error) : resolve(response as T),
      );
    });
  }

  /** A server-streaming call (content Read, events Subscribe). */
  stream(service: ServiceName, method: string, request: object): ClientReadableStream<unknown> {
    const client = this.clients[service] as unknown as Record<string, ServerStream>;
    return client[method]!.call(client, request, this.metadata);
  }

  close(): void {
    for (const client of Object.values(this.clients)) client.close();
  }
}

/** The gRPC status code of a failed call, if it has one. */
export function grpcCode(error: unknown): number | undefined {
  return (error as { code?: number } | undefined)?.code;
}
