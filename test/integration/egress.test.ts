import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapturedLog } from '../support/captured-log.js';
import { executeGrpc, postJson, python, startTestApp, type TestApp } from '../support/test-app.js';

// Every target here is on loopback: the test servers, and names the service's resolver (injected)
// points at 127.0.0.1. Loopback is refused unless the operator's list names the exact host, which is
// how the allowed names get through and everything else shows the refusals.
let t: TestApp;
const log = new CapturedLog();
const servers: (Server | TlsServer)[] = [];
let httpPort = 0;
let httpsPort = 0;
let otherPort = 0;
let certDir = '';

async function listen(server: Server | TlsServer): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'egress-cert-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=allowed.test',
      '-keyout',
      join(certDir, 'key.pem'),
      '-out',
      join(certDir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  httpPort = await listen(createServer((request, response) => response.end(`hello ${request.url}`)));
  httpsPort = await listen(
    createTlsServer(
      { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) },
      (request, response) => response.end(`hello tls ${request.url}`),
    ),
  );
  otherPort = await listen(createServer((_request, response) => response.end('other port')));
  t = await startTestApp(
    {
      SANDBOX_EGRESS_ALLOW: `allowed.test:${httpPort},allowed.test:${httpsPort},*.wild.test:${httpPort}`,
      SANDBOX_POOL_SIZE: '1',
    },
    pino({ level: 'info' }, log),
    { resolveHost: async (host) => (host.endsWith('.test') ? ['127.0.0.1'] : []) },
  );
});

afterAll(async () => {
  await t?.stop();
  for (const server of servers) server.close();
  rmSync(certDir, { recursive: true, force: true });
});

/** Tries each URL through the proxy variables the sandbox was given and prints what happened. */
const probeProgram = () => `
import json, os, socket, ssl, urllib.request
# Send loopback-looking destinations through the proxy too, so the proxy (not NO_PROXY) decides them.
os.environ.pop("NO_PROXY", None); os.environ.pop("no_proxy", None)
insecure = ssl.create_default_context(); insecure.check_hostname = False; insecure.verify_mode = ssl.CERT_NONE
def get(url):
    try:
        return urllib.request.urlopen(url, timeout=10, context=insecure).read().decode()
    except Exception as error:
        return "ERR " + str(error)
def raw():
    try:
        socket.create_connection(("127.0.0.1", ${httpPort}), timeout=3).close()
        return "connected"
    except Exception as error:
        return "ERR " + str(error)
print(json.dumps({
    "proxy": os.environ.get("HTTPS_PROXY"),
    "http": get("http://allowed.test:${httpPort}/a"),
    "https": get("https://allowed.test:${httpsPort}/b"),
    "other_port": get("http://allowed.test:${otherPort}/"),
    "by_ip": get("http://127.0.0.1:${httpPort}/"),
    "wildcard_to_loopback": get("http://x.wild.test:${httpPort}/"),
    "private": get("http://10.0.0.1/"),
    "raw_socket": raw(),
}))
`;

async function scrapeEgress(): Promise<{ allowed: number; denied: number }> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
  const value = (decision: string) => {
    const series = `code_sandbox_egress_requests_total{decision="${decision}"} `;
    const line = text.split('\n').find((candidate) => candidate.startsWith(series));
    return line ? Number(line.slice(series.length)) : 0;
  };
  return { allowed: value('allowed'), denied: value('denied') };
}

describe('controlled egress (allowlist through the per-sandbox proxy)', () => {
  it('lets allowed hosts answer over HTTP and HTTPS (CONNECT) and refuses everything else', async () => {
    const before = await scrapeEgress();
    const run = await executeGrpc(t.grpc, python(probeProgram(), { network: { allow: ['*'] } }));
    expect(run.error).toBeUndefined();
    const seen = JSON.parse(run.stdout.toString()) as Record<string, string>;
    expect(seen.proxy).toBe('http://127.0.0.1:3128');
    expect(seen.http).toBe('hello /a');
    expect(seen.https).toBe('hello tls /b');
    expect(seen.other_port).toMatch(/ERR HTTP Error 403/);
    expect(seen.by_ip).toMatch(/ERR HTTP Error 403/);
    expect(seen.wildcard_to_loopback).toMatch(/ERR HTTP Error 403/);
    expect(seen.private).toMatch(/ERR HTTP Error 403/);
    expect(seen.raw_socket).toMatch(/^ERR /);

    const egress = run.result?.egress as {
      requests: number;
      denied: number;
      bytes: number;
      denied_attempts: { host: string; port: number; reason: string }[];
    };
    expect(egress.requests).toBe(6);
    expect(egress.denied).toBe(4);
    expect(egress.bytes).toBeGreaterThan(0);
    expect(egress.denied_attempts).toEqual(
      expect.arrayContaining([
        { host: 'allowed.test', port: otherPort, reason: 'not in the allowlist' },
        { host: '127.0.0.1', port: httpPort, reason: 'not in the allowlist' },
        { host: 'x.wild.test', port: httpPort, reason: expect.stringContaining('loopback') as string },
        { host: '10.0.0.1', port: 80, reason: 'not in the allowlist' },
      ]),
    );

    const after = await scrapeEgress();
    expect(after.allowed - before.allowed).toBe(2);
    expect(after.denied - before.denied).toBe(4);
    const audit = log.lines.filter((line) => line.msg === 'egress' && line.executionId === run.executionId);
    expect(audit).toHaveLength(6);
    expect(audit.map((line) => line.egress)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          method: 'CONNECT',
          host: 'allowed.test',
          port: httpsPort,
          decision: 'allowed',
        }),
        expect.objectContaining({ host: '10.0.0.1', port: 80, decision: 'denied', bytes: 0 }),
      ]),
    );
    const connect = audit.find((line) => (line.egress as { method: string }).method === 'CONNECT');
    expect((connect?.egress as { bytes: number }).bytes).toBeGreaterThan(0);
  });

  it('gives a request without `network` no egress at all', async () => {
    const run = await executeGrpc(t.grpc, python(probeProgram()));
    const seen = JSON.parse(run.stdout.toString()) as Record<string, string>;
    expect(seen.http).toMatch(/ERR HTTP Error 403/);
    expect(seen.https).toMatch(/ERR .*403/);
    expect(seen.raw_socket).toMatch(/^ERR /);
    const egress = run.result?.egress as { denied: number; denied_attempts: { reason: string }[] };
    expect(egress.denied).toBe(6);
    expect(egress.denied_attempts[0]?.reason).toBe('no egress allowed for this execution');
  });

  it('applies the same policy to a program that talks to the socket itself, bypassing the relay', async () => {
    const code = `
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("/sandbox/job/egress.sock")
s.sendall(b"CONNECT 127.0.0.1:${httpPort} HTTP/1.1\\r\\nHost: allowed.test\\r\\n\\r\\n")
print(s.recv(200).split(b"\\r\\n")[0].decode())
`;
    const run = await executeGrpc(t.grpc, python(code, { network: { allow: [`allowed.test:${httpPort}`] } }));
    expect(run.stdout.toString().trim()).toBe('HTTP/1.1 403 Forbidden');
    expect(run.result?.egress).toMatchObject({ requests: 1, denied: 1 });
  });

  it('refuses a request that asks for more than the server allows, naming the entry', async () => {
    const grpcRun = await executeGrpc(
      t.grpc,
      python('print(1)', { network: { allow: [`allowed.test:${httpPort}`, 'evil.test'] } }),
    );
    expect(grpcRun.error?.code).toBe(3); // INVALID_ARGUMENT
    expect(grpcRun.error?.details).toContain('network.allow[1]');
    expect(grpcRun.error?.details).toContain('evil.test');

    const rest = await postJson(`${t.httpUrl}/v1/execute`, {
      language: 'python',
      code: 'print(1)',
      network: { allow: [`*.test:${httpPort}`] },
    });
    expect(rest.status).toBe(400);
    expect(JSON.stringify(rest.json)).toContain('network.allow[0]');
  });

  it('narrows per request over REST; Node.js reaches it through the relay, with https.get as is', async () => {
    const code = `
const http = require('http');
const proxy = new URL(process.env.HTTP_PROXY);
const get = (target) => new Promise((resolve) => {
  http.get({ host: proxy.hostname, port: proxy.port, path: target, headers: { host: new URL(target).host } }, (response) => {
    let body = '';
    response.on('data', (chunk) => (body += chunk));
    response.on('end', () => resolve(response.statusCode + ' ' + body));
  }).on('error', (error) => resolve('ERR ' + error.message));
});
// Node's own https.get, with no proxy code: the runtime's global agent tunnels it through CONNECT.
const httpsGet = (target) => new Promise((resolve) => {
  require('https').get(target, { rejectUnauthorized: false }, (response) => {
    let body = '';
    response.on('data', (chunk) => (body += chunk));
    response.on('end', () => resolve(response.statusCode + ' ' + body));
  }).on('error', (error) => resolve('ERR ' + error.message));
});
(async () => {
  console.log(await get('http://allowed.test:${httpPort}/node'));
  console.log(await get('http://y.wild.test:${httpPort}/node'));
  console.log(await httpsGet('https://allowed.test:${httpsPort}/node-https'));
  console.log(await httpsGet('https://y.wild.test:${httpsPort}/'));
})();`;
    const rest = await postJson(`${t.httpUrl}/v1/execute`, {
      language: 'nodejs',
      code,
      network: { allow: [`allowed.test:${httpPort}`, `allowed.test:${httpsPort}`] },
    });
    expect(rest.status).toBe(200);
    const lines = String(rest.json.stdout).split('\n').filter(Boolean);
    expect(lines[0]).toBe('200 hello /node');
    expect(lines[1]).toMatch(/^403 egress denied: not in the allowlist/);
    expect(lines[2]).toBe('200 hello tls /node-https');
    expect(lines[3]).toMatch(
      /^ERR egress to y\.wild\.test:\d+ refused by the proxy \(HTTP\/1\.1 403 Forbidden\): egress denied: not in the allowlist/,
    );
    expect(rest.json.egress).toMatchObject({ requests: 4, denied: 2 });
  });

  it('reports in /readyz that runsc lets sandboxes reach their proxy socket', async () => {
    const response = await fetch(`${t.httpUrl}/readyz`);
    const body = (await response.json()) as { checks: { name: string; ok: boolean }[] };
    expect(body.checks).toContainEqual(expect.objectContaining({ name: 'egress', ok: true }));
  });

  it("axios: plain HTTP through the proxy as is; HTTPS with proxy:false (then Node's agent tunnels it)", async () => {
    const code = `
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; // the test server's certificate is self-signed
const axios = require('axios');
const show = (promise) => promise.then((r) => r.status + ' ' + r.data, (e) => 'ERR ' + (e.response ? e.response.status : e.message));
(async () => {
  console.log(await show(axios.get('http://allowed.test:${httpPort}/axios')));
  console.log(await show(axios.get('https://allowed.test:${httpsPort}/axios', { proxy: false })));
  console.log(await show(axios.get('https://allowed.test:${httpsPort}/axios')));
})();`;
    const rest = await postJson(`${t.httpUrl}/v1/execute`, {
      language: 'nodejs',
      code,
      network: { allow: ['*'] },
    });
    expect(String(rest.json.stdout).split('\n').filter(Boolean)).toEqual([
      '200 hello /axios',
      '200 hello tls /axios',
      'ERR 400', // axios sends https:// as an absolute URI to an HTTP proxy; the proxy only tunnels HTTPS
    ]);
  });

  it('keeps warm starts for executions with egress', async () => {
    await new Promise((resolve) => setTimeout(resolve, 3000)); // the pool refills after the last claim
    const run = await executeGrpc(
      t.grpc,
      python(
        `import urllib.request\nprint(urllib.request.urlopen("http://allowed.test:${httpPort}/warm", timeout=10).read().decode())`,
        { network: { allow: [`allowed.test:${httpPort}`] } },
      ),
    );
    expect(run.warm).toBe(true);
    expect(run.stdout.toString().trim()).toBe('hello /warm');
  });
});
