import { join } from 'node:path';
import {
  Channel,
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
  private readonly channel: Channel;
  private readonly clients: Record<ServiceName, Client>;
  private readonly metadata = new Metadata();
  private readonly probeMetadata: Metadata;
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
    // One channel for every service: one connection, and one connectivity state (a probe that
    // waited for containerd to come back leaves every service's calls ready).
    this.channel = new Channel(`unix://${socket}`, credentials.createInsecure(), {
      // Large spec and content messages; containerd's own default limit is 16 MiB.
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      // A local daemon: once containerd is back, reconnect within a second (gRPC's default backoff
      // grows to 2 minutes, and sandboxes would stay unavailable that long).
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
    this.clients = Object.fromEntries(
      SERVICES.map((service) => {
        const Constructor = api.containerd.services[service].v1[clientNames[service]]!;
        return [
          service,
          new Constructor('unused', credentials.createInsecure(), { channelOverride: this.channel }),
        ];
      }),
    ) as Record<ServiceName, Client>;
    this.metadata.set('containerd-namespace', namespace);
    // grpc-js takes waitForReady from the metadata's options, not the call's.
    this.probeMetadata = this.metadata.clone();
    this.probeMetadata.setOptions({ waitForReady: true });
    const options = definition['containerd.runc.v1.Options'] as unknown as {
      type: { field: { name: string; number: number }[] };
    };
    this.runcBinaryNameField = options.type.field.find((field) => field.name === 'binary_name')!.number;
  }

  /**
   * One unary call, e.g. call('tasks', 'Create', {...}). With `deadlineMs`, it may wait that long for
   * a connection (a probe); without, it fails at once while containerd is unreachable.
   */
  call<T = Record<string, unknown>>(
    service: ServiceName,
    method: string,
    request: object,
    deadlineMs?: number,
  ): Promise<T> {
    const client = this.clients[service] as unknown as Record<string, Unary>;
    const probe = deadlineMs !== undefined;
    const options = probe ? { deadline: Date.now() + deadlineMs } : {};
    return new Promise((resolve, reject) => {
      client[method]!.call(
        client,
        request,
        probe ? this.probeMetadata : this.metadata,
        options,
        (error, response) => (error ? reject(error) : resolve(response as T)),
      );
    });
  }

  /** A server-streaming call (content Read, events Subscribe). */
  stream(service: ServiceName, method: string, request: object): ClientReadableStream<unknown> {
    const client = this.clients[service] as unknown as Record<string, ServerStream>;
    return client[method]!.call(client, request, this.metadata);
  }

  close(): void {
    this.channel.close();
  }
}

/** The gRPC status code of a failed call, if it has one. */
export function grpcCode(error: unknown): number | undefined {
  return (error as { code?: number } | undefined)?.code;
}
