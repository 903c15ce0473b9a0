import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { InstanceLiveness, InstanceState } from './instance-liveness.js';

const SUFFIX = '.sock';
/** Longest unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH_BYTES = 107;
/** A live process accepts at once (the kernel completes the connect even if it is busy). */
const PROBE_TIMEOUT_MS = 2000;

export interface UnixSocketLivenessOptions {
  /** Directory shared by every instance using the same work root, e.g. <workRoot>/instances. */
  directory: string;
  instanceId: string;
}

/**
 * Each live instance listens on `<directory>/<instanceId>.sock`. A connect succeeds exactly while the
 * listening process lives: when it dies, even by SIGKILL, the kernel closes the socket and a connect
 * gets ECONNREFUSED, while the file stays behind as the record that the instance existed here.
 * Node has no flock(); this needs no native module, and works across containers on one host that
 * bind-mount the same work root (a unix socket is reached through the inode, whatever the mount).
 */
export class UnixSocketLiveness implements InstanceLiveness {
  private server: Server | undefined;

  constructor(private readonly options: UnixSocketLivenessOptions) {
    const path = this.socketPath(options.instanceId);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      throw new Error(`liveness socket path too long (${path}): use a shorter SANDBOX_WORK_ROOT`);
    }
  }

  async announce(): Promise<void> {
    const { directory, instanceId } = this.options;
    await mkdir(directory, { recursive: true, mode: 0o755 });
    const path = this.socketPath(instanceId);
    try {
      this.server = await listen(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      if ((await this.state(instanceId)) === 'alive') {
        throw new Error(`instance id "${instanceId}" is in use by a live instance on this work root`, {
          cause: error,
        });
      }
      await rm(path, { force: true }); // a crashed predecessor's socket
      this.server = await listen(path);
    }
    // Instances may run as different users (separate containers): anyone may probe.
    await chmod(path, 0o666);
  }

  async withdraw(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.socketPath(this.options.instanceId), { force: true });
  }

  state(instanceId: string): Promise<InstanceState> {
    return new Promise((resolve) => {
      const socket = createConnection(this.socketPath(instanceId));
      const settle = (state: InstanceState) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(state);
      };
      // Slow to answer is not dead: only a refused connect proves it.
      const timer = setTimeout(() => settle('alive'), PROBE_TIMEOUT_MS);
      socket.once('connect', () => settle('alive'));
      socket.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNREFUSED') settle('dead');
        else if (error.code === 'ENOENT') settle('unknown');
        else settle('alive'); // EAGAIN (backlog full), EACCES…: cannot prove it dead
      });
    });
  }

  async announced(): Promise<string[]> {
    const names = await readdir(this.options.directory).catch(() => [] as string[]);
    return names.filter((name) => name.endsWith(SUFFIX)).map((name) => name.slice(0, -SUFFIX.length));
  }

  async forget(instanceId: string): Promise<void> {
    // Re-checked right before: a restart under the same fixed id may have announced meanwhile.
    if (instanceId === this.options.instanceId || (await this.state(instanceId)) !== 'dead') return;
    await rm(this.socketPath(instanceId), { force: true });
  }

  private socketPath(instanceId: string): string {
    return join(this.options.directory, `${instanceId}${SUFFIX}`);
  }
}

/** Listens on a unix socket; connections are closed at once (a connect is the whole answer). */
function listen(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      // Must not keep the process alive on its own.
      server.unref();
      resolve(server);
    });
  });
}
