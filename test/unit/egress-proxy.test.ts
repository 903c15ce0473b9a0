import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import {
  connect,
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  narrowNetworkPolicy,
  NO_EGRESS,
  parseOperatorAllowList,
  type NetworkPolicy,
} from '../../src/domain/network-policy.js';
import type { EgressDecision } from '../../src/egress/egress-metrics.js';
import { EgressProxy, type EgressCaps } from '../../src/egress/egress-proxy.js';
import { CapturedLog } from '../support/captured-log.js';

// Real sockets, no Docker: the proxy on a unix socket in a temp dir, origin servers on loopback, and
// names pointed at loopback by the injected resolver (the exact operator entries permit that).
let directory = '';
let httpServer: Server;
let echoServer: TcpServer;
let httpPort = 0;
let echoPort = 0;
const proxies: EgressProxy[] = [];

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'egress-proxy-'));
  httpServer = createServer((req, res) => {
    if (req.url === '/big') res.end('x'.repeat(64 * 1024));
    else
      res.end(
        `hello ${req.url} host=${req.headers.host} proxy-header=${req.headers['proxy-authorization'] ?? 'none'}`,
      );
  });
  echoServer = createTcpServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => echoServer.listen(0, '127.0.0.1', resolve));
  httpPort = (httpServer.address() as AddressInfo).port;
  echoPort = (echoServer.address() as AddressInfo).port;
});

afterEach(() => {
  for (const proxy of proxies.splice(0)) proxy.close();
});

afterAll(() => {
  httpServer.close();
  echoServer.close();
  rmSync(directory, { recursive: true, force: true });
});

interface Harness {
  proxy: EgressProxy;
  log: CapturedLog;
  decisions: EgressDecision[];
}

async function startProxy(caps: Partial<EgressCaps> = {}, bind = true): Promise<Harness> {
  const log = new CapturedLog();
  const decisions: EgressDecision[] = [];
  const proxy = new EgressProxy({
    socketPath: join(directory, `${proxies.length}-${Date.now()}.sock`),
    sandboxId: 'sandbox-1',
    caps: { maxConnections: 100, maxOpenConnections: 8, maxBytes: 1024 * 1024, ...caps },
    resolve: async (host) => (host.endsWith('.test') ? ['127.0.0.1'] : []),
    metrics: { egressRequest: (decision) => decisions.push(decision) },
    logger: pino({ level: 'info' }, log),
  });
  proxies.push(proxy);
  await proxy.listen();
  if (bind) proxy.bind('execution-1', testPolicy());
  return { proxy, log, decisions };
}

/** Everything the test origins offer. */
function testPolicy(): NetworkPolicy {
  const { rules } = parseOperatorAllowList([`origin.test:${httpPort}`, `echo.test:${echoPort}`]);
  return narrowNetworkPolicy(['*'], rules);
}

/** A forward-proxy request (absolute URI) through the unix socket. */
function proxiedGet(proxy: EgressProxy, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: proxy.socketPath, path: url, headers: { 'proxy-authorization': 'secret' } },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Opens a CONNECT tunnel and resolves with the socket and the proxy's status line. */
function openTunnel(
  proxy: EgressProxy,
  target: string,
): Promise<{ status: string; socket: ReturnType<typeof connect> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxy.socketPath);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      resolve({ status: head.split('\r\n')[0] ?? '', socket });
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  });
}

function echo(socket: ReturnType<typeof connect>, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    socket.write(text);
  });
}

const auditLines = (log: CapturedLog) => log.lines.filter((line) => line.msg === 'egress');

describe('EgressProxy', () => {
  it('forwards an allowed absolute-URI request, dropping proxy headers, and audits it with its bytes', async () => {
    const { proxy, log, decisions } = await startProxy();
    const response = await proxiedGet(proxy, `http://origin.test:${httpPort}/path?q=1`);
    expect(response).toEqual({
      status: 200,
      body: `hello /path?q=1 host=origin.test:${httpPort} proxy-header=none`,
    });
    expect(decisions).toEqual(['allowed']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(auditLines(log)).toEqual([
      expect.objectContaining({
        executionId: 'execution-1',
        sandboxId: 'sandbox-1',
        egress: expect.objectContaining({
          method: 'GET',
          host: 'origin.test',
          port: httpPort,
          decision: 'allowed',
        }) as object,
      }),
    ]);
    expect((auditLines(log)[0]?.egress as { bytes: number }).bytes).toBeGreaterThan(0);
    expect(proxy.report()).toMatchObject({ requests: 1, denied: 0 });
  });

  it('refuses destinations outside the policy with 403 and a reason, and records them', async () => {
    const { proxy, log, decisions } = await startProxy();
    const byIp = await proxiedGet(proxy, `http://127.0.0.1:${httpPort}/`);
    expect(byIp.status).toBe(403);
    expect(byIp.body).toBe('egress denied: not in the allowlist\n');
    const tunnel = await openTunnel(proxy, `origin.test:${httpPort + 1}`);
    expect(tunnel.status).toMatch(/^HTTP\/1.1 403/);
    const https = await proxiedGet(proxy, `https://origin.test:${httpPort}/`);
    expect(https.status).toBe(400);
    expect(decisions).toEqual(['denied', 'denied', 'denied']);
    expect(proxy.report()).toEqual({
      requests: 3,
      denied: 3,
      bytes: 0,
      deniedAttempts: [
        { host: '127.0.0.1', port: httpPort, reason: 'not in the allowlist' },
        { host: 'origin.test', port: httpPort + 1, reason: 'not in the allowlist' },
        { host: 'origin.test', port: 0, reason: 'https: URIs go through CONNECT (set HTTPS_PROXY)' },
      ],
    });
    expect(auditLines(log).map((line) => (line.egress as { decision: string }).decision)).toEqual([
      'denied',
      'denied',
      'denied',
    ]);
  });

  it('refuses everything until an execution binds its policy (a pooled sandbox)', async () => {
    const { proxy } = await startProxy({}, false);
    const response = await proxiedGet(proxy, `http://origin.test:${httpPort}/`);
    expect(response.status).toBe(403);
    expect(response.body).toContain('no egress allowed for this execution');
  });

  it('tunnels CONNECT to an allowed host and counts the bytes both ways', async () => {
    const { proxy } = await startProxy();
    const { status, socket } = await openTunnel(proxy, `echo.test:${echoPort}`);
    expect(status).toBe('HTTP/1.1 200 Connection Established');
    expect(await echo(socket, 'ping')).toBe('ping');
    socket.destroy();
    expect(proxy.report().bytes).toBe(8);
  });

  it('caps attempts per execution', async () => {
    const { proxy } = await startProxy({ maxConnections: 2 });
    expect((await proxiedGet(proxy, `http://origin.test:${httpPort}/1`)).status).toBe(200);
    expect((await proxiedGet(proxy, `http://origin.test:${httpPort}/2`)).status).toBe(200);
    const third = await proxiedGet(proxy, `http://origin.test:${httpPort}/3`);
    expect(third.status).toBe(429);
    expect(third.body).toContain('more than 2 egress connections in this execution');
  });

  it('caps connections open at once', async () => {
    const { proxy } = await startProxy({ maxOpenConnections: 2 });
    const first = await openTunnel(proxy, `echo.test:${echoPort}`);
    const second = await openTunnel(proxy, `echo.test:${echoPort}`);
    const third = await openTunnel(proxy, `echo.test:${echoPort}`);
    expect([first.status, second.status]).toEqual([
      'HTTP/1.1 200 Connection Established',
      'HTTP/1.1 200 Connection Established',
    ]);
    expect(third.status).toMatch(/^HTTP\/1.1 429/);
    first.socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const fourth = await openTunnel(proxy, `echo.test:${echoPort}`);
    expect(fourth.status).toBe('HTTP/1.1 200 Connection Established');
    second.socket.destroy();
    fourth.socket.destroy();
  });

  it('cuts a connection once the execution passes its byte cap, and refuses new ones', async () => {
    const { proxy } = await startProxy({ maxBytes: 16 * 1024 });
    const cut = await proxiedGet(proxy, `http://origin.test:${httpPort}/big`).catch((error: Error) => error);
    expect(cut instanceof Error || cut.body.length < 64 * 1024).toBe(true);
    expect(proxy.report().deniedAttempts).toContainEqual({
      host: 'origin.test',
      port: httpPort,
      reason: `egress byte cap of ${16 * 1024} reached; connection cut`,
    });
    const after = await proxiedGet(proxy, `http://origin.test:${httpPort}/`);
    expect(after.status).toBe(429);
  });

  it('starts a new report with fresh caps at every bind (the cells of a session)', async () => {
    const { proxy, log } = await startProxy({ maxConnections: 1 });
    expect((await proxiedGet(proxy, `http://origin.test:${httpPort}/1`)).status).toBe(200);
    expect((await proxiedGet(proxy, `http://origin.test:${httpPort}/2`)).status).toBe(429);
    expect(proxy.report()).toMatchObject({ requests: 2, denied: 1 });

    proxy.bind('cell-2', testPolicy());
    expect(proxy.report()).toEqual({ requests: 0, denied: 0, bytes: 0, deniedAttempts: [] });
    expect((await proxiedGet(proxy, `http://origin.test:${httpPort}/3`)).status).toBe(200);
    const second = proxy.report();
    expect(second).toMatchObject({ requests: 1, denied: 0, deniedAttempts: [] });
    expect(second.bytes).toBeGreaterThan(0);

    proxy.bind('cell-3', NO_EGRESS);
    const refused = await proxiedGet(proxy, `http://origin.test:${httpPort}/4`);
    expect(refused.status).toBe(403);
    expect(proxy.report()).toMatchObject({ requests: 1, denied: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(
      auditLines(log).map((line) => [line.executionId, (line.egress as { decision: string }).decision]),
    ).toEqual([
      ['execution-1', 'allowed'],
      ['execution-1', 'denied'],
      ['cell-2', 'allowed'],
      ['cell-3', 'denied'],
    ]);
  });

  it('keeps a tunnel opened before a bind counted and audited under the binding it was made in', async () => {
    const { proxy, log } = await startProxy();
    const { socket } = await openTunnel(proxy, `echo.test:${echoPort}`);
    proxy.bind('cell-2', testPolicy());
    expect(await echo(socket, 'ping')).toBe('ping');
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.destroy();
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(proxy.report()).toEqual({ requests: 0, denied: 0, bytes: 0, deniedAttempts: [] });
    expect(auditLines(log)).toEqual([
      expect.objectContaining({
        executionId: 'execution-1',
        egress: expect.objectContaining({ method: 'CONNECT', decision: 'allowed', bytes: 8 }) as object,
      }),
    ]);
  });

  it('cuts open tunnels and stops listening when closed', async () => {
    const { proxy } = await startProxy();
    const { socket } = await openTunnel(proxy, `echo.test:${echoPort}`);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    proxy.close();
    await closed;
    await expect(proxiedGet(proxy, `http://origin.test:${httpPort}/`)).rejects.toThrow();
  });
});
