import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PROTO = 'proto/sandbox/v1/sandbox.proto';

// The clients carry the contract with them (a published package cannot reach into this repository):
// these copies must be exactly what the service's .proto gives today.
describe('the clients carry the current sandbox.v1 contract', () => {
  const generated = mkdtempSync(join(tmpdir(), 'code-sandbox-python-stubs-'));
  afterAll(() => rmSync(generated, { recursive: true, force: true }));

  it('clients/typescript/proto holds the service proto byte for byte', () => {
    expect(readFileSync(`clients/typescript/${PROTO}`).equals(readFileSync(PROTO))).toBe(true);
  });

  it("clients/python's committed stubs are what generate.sh makes from the proto now", async () => {
    await run('bash', ['clients/python/generate.sh', generated]);
    for (const file of ['sandbox_pb2.py', 'sandbox_pb2_grpc.py']) {
      const committed = readFileSync(join('clients/python/code_sandbox/_proto', file), 'utf8');
      expect(committed, `${file}: run clients/python/generate.sh`).toBe(
        readFileSync(join(generated, file), 'utf8'),
      );
    }
  });
});
