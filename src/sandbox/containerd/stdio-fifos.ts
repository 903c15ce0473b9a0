import { execFile } from 'node:child_process';
import { close, constants, open } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { promisify } from 'node:util';
import { DOCKER_STDERR, DOCKER_STDOUT } from '../protocol/frame-decoder.js';

const run = promisify(execFile);
// Raw descriptors, not FileHandles: each is handed to a net.Socket, which closes it.
const openFd = promisify(open);
const closeFd = promisify(close);
const HEADER_BYTES = 8;

/**
 * A container's stdin, stdout and stderr as FIFOs the containerd shim opens (the paths go into the
 * task's create request), opened on our side before the task exists.
 *
 * A FIFO read end sees end-of-file whenever no writer has it open, so until the shim has opened its
 * write ends we hold a write end of stdout and stderr ourselves (`release` drops them once the task
 * is created); from then on end-of-file means the shim closed them: the container is gone.
 */
export class StdioFifos {
  private constructor(
    readonly directory: string,
    readonly stream: Duplex,
    private readonly keepOpen: number[],
  ) {}

  static async create(directory: string): Promise<StdioFifos> {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const paths = ['stdin', 'stdout', 'stderr'].map((name) => join(directory, name));
    // Node has no mkfifo(3); one mkfifo(1) process for all three (~1 ms).
    await run('mkfifo', ['-m', '600', ...paths]);
    const [stdinPath, stdoutPath, stderrPath] = paths as [string, string, string];
    // O_RDWR on a FIFO never blocks (Linux); a non-blocking read-only open succeeds once a writer exists.
    const nonBlocking = constants.O_NONBLOCK;
    const stdin = await openFd(stdinPath, constants.O_RDWR | nonBlocking);
    const keepOpen = [
      await openFd(stdoutPath, constants.O_RDWR | nonBlocking),
      await openFd(stderrPath, constants.O_RDWR | nonBlocking),
    ];
    const stdout = await openFd(stdoutPath, constants.O_RDONLY | nonBlocking);
    const stderr = await openFd(stderrPath, constants.O_RDONLY | nonBlocking);
    const stream = new StdioMultiplexer(
      new Socket({ fd: stdin, readable: false, writable: true }),
      new Socket({ fd: stdout, readable: true, writable: false }),
      new Socket({ fd: stderr, readable: true, writable: false }),
    );
    return new StdioFifos(directory, stream, keepOpen);
  }

  get stdin(): string {
    return join(this.directory, 'stdin');
  }

  get stdout(): string {
    return join(this.directory, 'stdout');
  }

  get stderr(): string {
    return join(this.directory, 'stderr');
  }

  /** The shim has its write ends open (the task exists): from now on end-of-file means it closed them. */
  async release(): Promise<void> {
    await Promise.all(this.keepOpen.splice(0).map((fd) => closeFd(fd)));
  }

  /** Closes everything of ours and removes the FIFOs. */
  async remove(): Promise<void> {
    await this.release();
    this.stream.destroy();
    await rm(this.directory, { recursive: true, force: true });
  }
}

/**
 * stdin, stdout and stderr as one Duplex in Docker's attach framing (8-byte header: type 1 stdout,
 * 2 stderr, big-endian length): what a Docker attach stream is, so the sandbox session reads either
 * engine's stream the same way. Ends once both stdout and stderr have ended.
 */
export class StdioMultiplexer extends Duplex {
  private open = 2;

  constructor(
    private readonly stdin: Socket,
    private readonly stdout: Socket,
    private readonly stderr: Socket,
  ) {
    super();
    for (const [source, type] of [
      [stdout, DOCKER_STDOUT],
      [stderr, DOCKER_STDERR],
    ] as const) {
      source.on('data', (chunk: Buffer) => {
        const header = Buffer.alloc(HEADER_BYTES);
        header[0] = type;
        header.writeUInt32BE(chunk.length, 4);
        if (!this.push(Buffer.concat([header, chunk]))) {
          stdout.pause();
          stderr.pause();
        }
      });
      source.once('end', () => {
        this.open -= 1;
        if (this.open === 0) this.push(null);
      });
      source.on('error', (error) => this.destroy(error));
    }
    stdin.on('error', () => undefined); // the container is gone: its end shows on stdout/stderr
  }

  override _read(): void {
    this.stdout.resume();
    this.stderr.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.stdin.write(chunk, encoding, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stdin.destroy();
    this.stdout.destroy();
    this.stderr.destroy();
    callback(error);
  }
}
