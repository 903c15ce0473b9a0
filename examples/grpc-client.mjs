#!/usr/bin/env node
// Minimal ExecuteCode client: streams the program's stdout/stderr to this terminal as it arrives, then
// prints the result as JSON on stderr and exits with the program's exit code.
//   node examples/grpc-client.mjs python 'print("hello")'
//   node examples/grpc-client.mjs python - < script.py
// Server address: SANDBOX_ADDRESS (default 127.0.0.1:50051).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const [language, codeArgument] = process.argv.slice(2);
if (!language || codeArgument === undefined) {
  console.error("usage: node examples/grpc-client.mjs LANGUAGE CODE|-   (e.g. python 'print(1)')");
  process.exit(64);
}
const code = codeArgument === '-' ? readFileSync(0, 'utf8') : codeArgument;
const protoPath = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'proto',
  'sandbox',
  'v1',
  'sandbox.proto',
);
const definition = loadSync(protoPath, { keepCase: true, longs: Number, defaults: true, oneofs: true });
const { SandboxService } = loadPackageDefinition(definition).sandbox.v1;
const client = new SandboxService(
  process.env.SANDBOX_ADDRESS ?? '127.0.0.1:50051',
  credentials.createInsecure(),
);

const call = client.ExecuteCode({ language, code });
let exitCode = 1;
call.on('data', (message) => {
  if (message.stdout) process.stdout.write(message.stdout.data);
  if (message.stderr) process.stderr.write(message.stderr.data);
  if (message.result) {
    console.error(JSON.stringify(message.result));
    exitCode = message.result.exit_code;
  }
});
call.on('error', (error) => {
  console.error(`ExecuteCode failed: ${error.code} ${error.details}`);
  process.exitCode = 2;
});
call.on('end', () => {
  client.close();
  process.exitCode ??= exitCode;
});
