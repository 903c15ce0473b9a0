import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
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
  parseAllowEntry,
  parseOperatorAllowList,
  type AllowRule,
  type NetworkPolicy,
} from '../../src/domain/network-policy.js';
import type { EgressDecision } from '../../src/egress/egress-metrics.js';
import { EgressProxy, type EgressCaps } from '../../src/egress/egress-proxy.js';
import {
  IPV4_EMBEDDINGS,
  ipv4Shorthands,
  ipv6Spellings,
  SPECIAL_IPV4,
  specialSpellings,
} from '../support/address-spellings.js';
import { CapturedLog } from '../support/captured-log.js';
import { startRawOrigin } from '../support/raw-http-origin.js';

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
  /** Every address:port the proxy opened a TCP connection to. */
  dialled: string[];
}

/**
 * The proxy under test. Its dialler connects to loopback only and records every connection: a
 * classification bug must show up as a failed assertion, never as traffic to a private address.
 */
async function startProxy(
  caps: Partial<EgressCaps> = {},
  bind: NetworkPolicy | false = testPolicy(),
): Promise<Harness> {
  const log = new CapturedLog();
  const decisions: EgressDecision[] = [];
  const dialled: string[] = [];
  const proxy = new EgressProxy({
    socketPath: join(directory, `${proxies.length}-${Date.now()}.sock`),
    sandboxId: 'sandbox-1',
    caps: { maxConnections: 100, maxOpenConnections: 8, maxBytes: 1024 * 1024, ...caps },
    resolve: async (host) => (host.endsWith('.test') ? ['127.0.0.1'] : []),
    metrics: { egressRequest: (decision) => decisions.push(decision) },
    logger: pino({ level: 'info' }, log),
    dial: (address, port) => {
      dialled.push(`${address}:${port}`);
      const loopback = address === '127.0.0.1' || address === '::1';
      return connect({ host: loopback ? address : '127.0.0.1', port: loopback ? port : 9 });
    },
  });
  proxies.push(proxy);
  await proxy.listen();
  if (bind) proxy.bind('execution-1', bind);
  return { proxy, log, decisions, dialled };
}

/** Everything the test origins offer (each named exactly by the operator, so loopback is allowed). */
function testPolicy(...more: string[]): NetworkPolicy {
  const { rules } = parseOperatorAllowList([`origin.test:${httpPort}`, `echo.test:${echoPort}`, ...more]);
  return narrowNetworkPolicy(['*'], rules);
}

/** Logged-open mode (SANDBOX_EGRESS_OPEN=true) with network.allow ["*"]: any public host, any port. */
function loggedOpenPolicy(): NetworkPolicy {
  return narrowNetworkPolicy(['*'], [parseAllowEntry('*') as AllowRule]);
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

/** Sends `text` on a fresh connection to the proxy and returns everything it answers until it closes. */
function rawExchange(
  proxy: EgressProxy,
  text: string,
  more?: { after: number; text: string },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxy.socketPath);
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.write(text);
    if (more) setTimeout(() => socket.writable && socket.write(more.text), more.after);
    setTimeout(() => socket.end(), 1_000);
  });
}

/** GETs one absolute URI over a kept-alive connection and returns the status. */
function statusOf(proxy: EgressProxy, agent: Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: proxy.socketPath, path: url, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const bracketed = (spelling: string) => (spelling.includes(':') ? `[${spelling}]` : spelling);
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));
const PARALLEL = 16;
/** Caps that let thousands of refusals through the proxy, PARALLEL at a time. */
const MANY: Partial<EgressCaps> = { maxConnections: 1_000_000, maxOpenConnections: 4 * PARALLEL };

describe('EgressProxy in logged-open mode: no spelling of a special address gets through', () => {
  // The spellings the finding used, every spelling of every loopback address (the service's own
  // ports are on loopback), then every spelling of every other special range.
  const loopbackSpellings = [
    ...SPECIAL_IPV4.filter((address) => address.startsWith('127.')).flatMap((address) =>
      IPV4_EMBEDDINGS.flatMap(({ wrap }) => ipv6Spellings(wrap(address))),
    ),
    ...ipv6Spellings([0, 0, 0, 0, 0, 0, 0, 1]),
  ];

  /** Asks for each spelling by CONNECT and by absolute URI, a few at a time; lists what was not refused. */
  async function refusedEverywhere(harness: Harness, spellings: string[]): Promise<void> {
    const { proxy } = harness;
    const agent = new Agent({ keepAlive: true, maxSockets: PARALLEL });
    const through: string[] = [];
    const queue = [...spellings];
    const worker = async () => {
      for (let spelling = queue.shift(); spelling !== undefined; spelling = queue.shift()) {
        const tunnel = await rawExchange(
          proxy,
          `CONNECT ${bracketed(spelling)}:${echoPort} HTTP/1.1\r\n\r\n`,
        );
        if (!tunnel.startsWith('HTTP/1.1 403'))
          through.push(`CONNECT ${spelling}: ${tunnel.split('\r\n')[0]}`);
        // 403, or 400 where WHATWG URL itself rejects the URI (`http://0177.088.0.1/`: not valid octal).
        const get = await statusOf(proxy, agent, `http://${bracketed(spelling)}:${httpPort}/v1/execute`);
        if (get !== 403 && get !== 400) through.push(`GET ${spelling}: ${get}`);
      }
    };
    try {
      await Promise.all(Array.from({ length: PARALLEL }, worker));
    } finally {
      agent.destroy();
    }
    expect(through).toEqual([]);
    expect(harness.dialled).toEqual([]);
  }

  it("refuses the finding's spellings and every other spelling of loopback (CONNECT and absolute URI)", async () => {
    const harness = await startProxy(MANY, loggedOpenPolicy());
    expect(loopbackSpellings).toEqual(
      expect.arrayContaining(['0:0:0:0:0:ffff:7f00:1', '0::ffff:7f00:1', '::ffff:7f00:1', '::1']),
    );
    await refusedEverywhere(harness, loopbackSpellings);
    expect(harness.proxy.report()).toMatchObject({ requests: 2 * loopbackSpellings.length, bytes: 0 });
  }, 60_000);

  it('refuses every spelling of every special range, and every IPv4 shorthand, before dialling anything', async () => {
    const harness = await startProxy(MANY, loggedOpenPolicy());
    const spellings = [
      ...new Set([
        ...specialSpellings().map(({ spelling }) => spelling),
        ...SPECIAL_IPV4.flatMap(ipv4Shorthands),
      ]),
    ];
    await refusedEverywhere(harness, spellings);
  }, 300_000);

  it('still lets a public address through (judged by its bytes, dialled in canonical form)', async () => {
    const harness = await startProxy({}, loggedOpenPolicy());
    const tunnel = await rawExchange(
      harness.proxy,
      `CONNECT [0:0:0:0:0:FFFF:5DB8:D822]:${echoPort} HTTP/1.1\r\n\r\n`,
    );
    // The test dialler sends non-loopback addresses nowhere (a refused loopback port): what matters is
    // that the proxy admitted it and which address it chose.
    expect(tunnel).toMatch(/^HTTP\/1.1 502/);
    expect(harness.dialled).toEqual([`::ffff:5db8:d822:${echoPort}`]);
  });
});

describe('EgressProxy byte cap: raw bytes both ways, request lines and headers included', () => {
  it('stops many big-header requests at the cap, and reports exactly what the origin read and wrote', async () => {
    const origin = await startRawOrigin();
    try {
      const cap = 10_000;
      const { proxy } = await startProxy({ maxBytes: cap }, testPolicy(`counted.test:${origin.port}`));
      const statuses: number[] = [];
      for (let index = 0; index < 30; index += 1) {
        statuses.push(
          await new Promise<number>((resolve) => {
            const req = request(
              {
                socketPath: proxy.socketPath,
                path: `http://counted.test:${origin.port}/${index}`,
                headers: { 'x-pad': 'a'.repeat(2_000) },
              },
              (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode ?? 0));
              },
            );
            req.on('error', () => resolve(0));
            req.end();
          }),
        );
      }
      await settle();
      const oneRequest = 2_000 + 100;
      expect(origin.received()).toBeLessThanOrEqual(cap);
      expect(origin.received()).toBeGreaterThan(cap - 2 * oneRequest);
      // Four fit; the fifth is cut before its head is written (0: the connection is cut); then 429.
      expect(statuses).toEqual([200, 200, 200, 200, 0, ...new Array<number>(25).fill(429)]);
      expect(proxy.report().bytes).toBe(origin.received() + origin.sent());
    } finally {
      origin.close();
    }
  });

  it('never sends a request whose head alone would pass the cap (12 KB of headers under a 10,000-byte cap)', async () => {
    const origin = await startRawOrigin();
    try {
      const { proxy, log } = await startProxy(
        { maxBytes: 10_000 },
        testPolicy(`counted.test:${origin.port}`),
      );
      for (let index = 0; index < 30; index += 1) {
        await new Promise<void>((resolve) => {
          const req = request(
            {
              socketPath: proxy.socketPath,
              path: `http://counted.test:${origin.port}/${index}`,
              headers: { 'x-pad': 'a'.repeat(12_000) },
            },
            (res) => {
              res.resume();
              res.on('end', resolve);
            },
          );
          req.on('error', () => resolve());
          req.end();
        });
      }
      await settle();
      expect(origin.received()).toBe(0);
      expect(proxy.report().bytes).toBe(0);
      expect(proxy.report().deniedAttempts[0]).toEqual({
        host: 'counted.test',
        port: origin.port,
        reason: 'egress byte cap of 10000 reached; connection cut',
      });
      expect(auditLines(log)[0]?.egress).toMatchObject({ decision: 'allowed', sent: 0, received: 0 });
    } finally {
      origin.close();
    }
  });
});

describe('EgressProxy request framing: the origin reads exactly the requests that were audited', () => {
  it('re-frames a chunked body, so a request hidden in it stays body (no smuggled second request)', async () => {
    const origin = await startRawOrigin();
    try {
      const { proxy, log } = await startProxy({}, testPolicy(`recorder.test:${origin.port}`));
      const authority = `recorder.test:${origin.port}`;
      const smuggled = `GET /smuggled HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
      const answer = await rawExchange(
        proxy,
        `GET http://${authority}/carrier HTTP/1.1\r\nHost: ${authority}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
          `${Buffer.byteLength(smuggled).toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
      );
      await settle();
      expect(answer).toMatch(/^HTTP\/1.1 200/);
      expect(answer).toContain('seen /carrier');
      expect(origin.requests).toEqual([
        expect.objectContaining({ method: 'GET', url: '/carrier', body: smuggled }),
      ]);
      expect(origin.requests[0]?.headers['transfer-encoding']).toBe('chunked');
      const audit = auditLines(log).map((line) => line.egress as Record<string, unknown>);
      expect(audit).toEqual([
        expect.objectContaining({
          method: 'GET',
          host: 'recorder.test',
          path: '/carrier',
          decision: 'allowed',
        }),
      ]);
      expect(audit[0]?.sent).toBe(origin.received());
    } finally {
      origin.close();
    }
  });

  it('forwards a Content-Length body as is', async () => {
    const origin = await startRawOrigin();
    try {
      const { proxy } = await startProxy({}, testPolicy(`recorder.test:${origin.port}`));
      const authority = `recorder.test:${origin.port}`;
      const answer = await rawExchange(
        proxy,
        `POST http://${authority}/form HTTP/1.1\r\nHost: ${authority}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
      );
      await settle();
      expect(answer).toMatch(/^HTTP\/1.1 200/);
      expect(origin.requests).toEqual([expect.objectContaining({ url: '/form', body: 'hello' })]);
    } finally {
      origin.close();
    }
  });

  it.each([
    [
      'Content-Length with Transfer-Encoding',
      'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'HPE_INVALID_TRANSFER_ENCODING',
    ],
    ['obs-fold', 'X-Folded: a\r\n b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    [
      'a bad chunk size',
      'Transfer-Encoding: chunked\r\n\r\nzz\r\nGET /smuggled HTTP/1.1\r\n\r\n0\r\n\r\n',
      'HPE_INVALID_CHUNK_SIZE',
    ],
    [
      'a chunk size overflow',
      'Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nx\r\n0\r\n\r\n',
      'HPE_INVALID_CHUNK_SIZE',
    ],
    [
      'a Transfer-Encoding other than chunked',
      'Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
      'HPE_INVALID_TRANSFER_ENCODING',
    ],
    [
      'two Content-Lengths',
      'Content-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      'HPE_UNEXPECTED_CONTENT_LENGTH',
    ],
  ])('refuses %s with 400, audits it, and sends nothing', async (_name, rest, code) => {
    const origin = await startRawOrigin();
    try {
      const { proxy, log, dialled } = await startProxy({}, testPolicy(`recorder.test:${origin.port}`));
      const authority = `recorder.test:${origin.port}`;
      const answer = await rawExchange(
        proxy,
        `POST http://${authority}/x HTTP/1.1\r\nHost: ${authority}\r\n${rest}`,
      );
      await settle();
      expect(answer).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
      expect(origin.requests).toEqual([]);
      expect(dialled).toEqual([]);
      expect(proxy.report()).toMatchObject({ requests: 1, denied: 1, bytes: 0 });
      expect(proxy.report().deniedAttempts[0]?.reason).toContain(code);
      expect(auditLines(log).map((line) => line.egress)).toEqual([
        expect.objectContaining({ decision: 'denied', reason: expect.stringContaining(code) as string }),
      ]);
    } finally {
      origin.close();
    }
  });

  it('cuts a request whose body goes bad after it was sent on, so the origin never gets a complete request', async () => {
    const origin = await startRawOrigin();
    try {
      const { proxy, log } = await startProxy({}, testPolicy(`recorder.test:${origin.port}`));
      const authority = `recorder.test:${origin.port}`;
      const answer = await rawExchange(
        proxy,
        `POST http://${authority}/slow HTTP/1.1\r\nHost: ${authority}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`,
        { after: 200, text: `zz\r\nGET /smuggled HTTP/1.1\r\n\r\n0\r\n\r\n` },
      );
      await settle();
      expect(answer).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
      expect(origin.requests).toEqual([]);
      expect(auditLines(log).map((line) => line.egress)).toEqual([
        expect.objectContaining({
          method: 'POST',
          path: '/slow',
          decision: 'allowed',
          reason: expect.stringContaining('HPE_INVALID_CHUNK_SIZE') as string,
        }),
      ]);
    } finally {
      origin.close();
    }
  });
});
