import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth, healthClient, reflect, reflectionClient } from '../support/grpc-probes.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const TOKEN = 'health-test-token-0123456789';

describe('grpc.health.v1 and server reflection', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A token is configured: health and reflection must still answer without one.
    t = await startTestApp({ SANDBOX_AUTH_TOKEN: TOKEN });
  });
  afterAll(async () => t?.stop());

  it('reports SERVING for the server and for sandbox.v1.SandboxService, without a token', async () => {
    const client = healthClient(t.app.grpcPort);
    try {
      expect(await checkHealth(client, '')).toEqual({ status: 'SERVING' });
      expect(await checkHealth(client, 'sandbox.v1.SandboxService')).toEqual({ status: 'SERVING' });
      const unknown = await checkHealth(client, 'no.such.Service');
      expect(unknown.error?.code).toBe(status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  it('lists the services and serves the sandbox.v1 descriptors over reflection', async () => {
    const client = reflectionClient(t.app.grpcPort);
    try {
      const listed = await reflect(client, { list_services: '*' });
      const names = (listed.list_services_response as { service: { name: string }[] }).service.map(
        (service) => service.name,
      );
      expect(names).toEqual(expect.arrayContaining(['sandbox.v1.SandboxService', 'grpc.health.v1.Health']));

      const described = await reflect(client, { file_containing_symbol: 'sandbox.v1.SandboxService' });
      const files = (described.file_descriptor_response as { file_descriptor_proto: Buffer[] })
        .file_descriptor_proto;
      expect(files.length).toBeGreaterThan(0);
      // The serialized FileDescriptorProto names the method and its messages.
      const text = Buffer.concat(files).toString('latin1');
      expect(text).toContain('ExecuteCode');
      expect(text).toContain('ExecuteCodeRequest');
    } finally {
      client.close();
    }
  });
});
