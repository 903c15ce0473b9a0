import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { credentials, type Client } from '@grpc/grpc-js';
import { loadSandboxService } from '../src/transport/grpc/sandbox-proto.js';

export interface ServiceProcess {
  pid: number;
  grpcPort: number;
  httpPort: number;
  instanceId: string;
  client: Client;
  /** Resident memory of the service process, in MiB. */
  rssMb(): number;
  stop(): Promise<void>;
}

/** Starts the built service (dist/) as a child process on free ports and waits until it listens. */
export async function startServiceProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const child: ChildProcess = spawn(process.execPath, ['dist/src/main.js'], {
    env: {
      ...process.env,
      SANDBOX_GRPC_PORT: '0',
      SANDBOX_HTTP_PORT: '0',
      SANDBOX_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
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
    client,
    rssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
    },
    async stop() {
      client.close();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
