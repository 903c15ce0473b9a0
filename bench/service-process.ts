import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { credentials, type Client } from '@grpc/grpc-js';
import { loadSandboxService } from '../src/transport/grpc/sandbox-proto.js';

export interface ServiceProcess {
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  grpcPort: number;
  httpPort: number;
  instanceId: string;
  client: Client;
  /** Resident memory of the service process, in MiB. */
  rssMb(): number;
  stop(): Promise<void>;
}

/** Runs the service from its TypeScript sources (tests), rather than the build (benchmarks). */
export const SOURCE_ENTRY = ['--import', 'tsx', 'src/main.ts'];

/** Starts the built service (dist/) as a child process on free ports and waits until it listens. */
export async function startServiceProcess(
  env: Record<string, string>,
  entry: string[] = ['dist/src/main.js'],
): Promise<ServiceProcess> {
  const child: ChildProcess = spawn(process.execPath, entry, {
    env: {
      ...process.env,
      SANDBOX_GRPC_PORT: '0',
      SANDBOX_HTTP_PORT: '0',
      SANDBOX_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  type Listening = { grpcPort: number; httpPort: number; instanceId: string };
  const listening = await new Promise<Listening>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as Partial<Listening> & { msg?: string };
      if (entry.msg === 'code-sandbox listening') {
        resolve({ grpcPort: entry.grpcPort!, httpPort: entry.httpPort!, instanceId: entry.instanceId! });
      }
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${code} before listening`)));
  });
  const Service = loadSandboxService();
  const client = new Service(`127.0.0.1:${listening.grpcPort}`, credentials.createInsecure());
  return {
    ...listening,
    pid: child.pid!,
    child,
    exited,
    client,
    rssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
    },
    async stop() {
      client.close();
      child.kill('SIGTERM');
      await exited;
    },
  };
}
