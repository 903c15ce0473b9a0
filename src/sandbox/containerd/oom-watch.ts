import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ContainerdApi } from './containerd-api.js';
import { firstStringField } from './runc-options.js';

const OOM_TOPIC = '/tasks/oom';
const RESUBSCRIBE_MS = 1000;
/** OOM-killed containers remembered (their ids are unique; old ones are removed long before this). */
const MAX_REMEMBERED = 4096;

/**
 * Which of our namespace's containers the kernel OOM-killed: containerd publishes a TaskOOM event
 * (from the shim's cgroup watch), as dockerd's OOMKilled flag comes from it too. One subscription per
 * engine, re-established if containerd restarts.
 */
export class OomWatch {
  private readonly killed = new Set<string>();
  private subscription: ClientReadableStream<unknown> | undefined;
  private closed = false;

  constructor(
    private readonly api: ContainerdApi,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.closed) return;
    const subscription = this.api.stream('events', 'Subscribe', {
      filters: [`topic=="${OOM_TOPIC}",namespace=="${this.api.namespace}"`],
    });
    this.subscription = subscription;
    subscription.on('data', (envelope: { event?: { value?: Buffer } }) => {
      const id = envelope.event?.value ? firstStringField(envelope.event.value) : undefined;
      if (!id) return;
      if (this.killed.size >= MAX_REMEMBERED) this.killed.delete(this.killed.values().next().value!);
      this.killed.add(id);
    });
    subscription.on('error', () => undefined); // 'close' follows
    subscription.on('close', () => {
      if (this.closed) return;
      this.logger.debug('containerd event subscription ended; subscribing again');
      setTimeout(() => this.start(), RESUBSCRIBE_MS).unref();
    });
  }

  /** Whether containerd reported an OOM kill in this container. */
  wasKilled(containerId: string): boolean {
    return this.killed.has(containerId);
  }

  forget(containerId: string): void {
    this.killed.delete(containerId);
  }

  close(): void {
    this.closed = true;
    this.subscription?.cancel();
  }
}
