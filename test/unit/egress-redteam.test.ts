import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { narrowNetworkPolicy, parseOperatorAllowList } from '../../src/domain/network-policy.js';
import { EgressGateway } from '../../src/egress/egress-gateway.js';
import { EgressProxy, type EgressCaps } from '../../src/egress/egress-proxy.js';
import type { HostResolver } from '../../src/egress/host-resolver.js';
import { CapturedLog } from '../support/captured-log.js';
import { startRawOrigin, type RawOrigin } from '../support/raw-http-origin.js';

// A hostile program's view of its egress proxy, as raw bytes on the proxy's unix socket (what the
// in-sandbox relay passes on unchanged). Origins listen on loopback; test names resolve to loopback
// through the injected resolver, and the dialler refuses anything else.
let directory = '';
let origin: RawOrigin;
const closers: (() => void)[] = [];

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'egress-redteam-'));
  origin = await startRawOrigin();
});

afterEach(() => {
  for (const close of closers.splice(0)) close();
});

afterAll(() => {
  origin.close();
  rmSync(directory, { recursive: true, force: true });
});

const loopbackResolver: HostResolver = async (host) => (host.endsWith('.test') ? ['127.0.0.1'] : []);

function loopbackDial(address: string, port: number): Socket {
  if (address !== '127.0.0.1') throw new Error(`dialled ${address}`);
  return connect({ host: address, port });
}

async function startProxy(
  caps: Partial<EgressCaps> = {},
  resolve: HostResolver = loopbackResolver,
  extra: Record<string, unknown> = {},
): Promise<{ proxy: EgressProxy; log: CapturedLog }> {
  const log = new CapturedLog();
  const proxy = new EgressProxy({
    socketPath: join(directory, `${Date.now()}-${Math.random().toString(36).slice(2)}.sock`),
    sandboxId: 'sandbox-redteam',
    caps: { maxConnections: 100, maxOpenConnections: 8, maxBytes: 1024 * 1024, ...caps },
    resolve,
    metrics: { egressRequest: () => undefined },
    logger: pino({ level: 'info' }, log),
    dial: loopbackDial,
    ...extra,
  });
  closers.push(() => proxy.close());
  await proxy.listen();
  proxy.bind('execution-redteam', policyFor(`origin.test:${origin.port}`));
  return { proxy, log };
}

function policyFor(...entries: string[]) {
  return narrowNetworkPolicy(['*'], parseOperatorAllowList(entries).rules);
}

/**
 * Writes `payload` on a fresh connection to the proxy and collects what comes back until the proxy
 * closes the connection or `waitMs` passes; `closed` says which.
 */
function rawExchange(
  socketPath: string,
  payload: string,
  waitMs = 1_000,
): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(socketPath);
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => done(true));
    socket.write(payload);
  });
}

const auditLines = (log: CapturedLog) => log.lines.filter((line) => line.msg === 'egress');
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

describe('egress red team: request smuggling through hop-by-hop names', () => {
  it('a GET whose Connection header names Content-Length does not reach the origin as a second, unaudited request', async () => {
    const { proxy, log } = await startProxy();
    const before = origin.requests.length;
    const hidden = 'GET /smuggled HTTP/1.1\r\nHost: internal.example\r\n\r\n';
    const reply = await rawExchange(
      proxy.socketPath,
      `GET http://origin.test:${origin.port}/visible HTTP/1.1\r\nHost: origin.test\r\n` +
        `Connection: content-length\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`,
      500,
    );
    await settle();
    expect(reply.text).toMatch(/^HTTP\/1\.1 200/);
    const seen = origin.requests.slice(before).map((request) => request.url);
    // The body is the GET's body: the origin reads one request, the one the audit names.
    expect(seen).toEqual(['/visible']);
    expect(auditLines(log).map((line) => (line.egress as { path?: string }).path)).toEqual(['/visible']);
  });
});

describe('egress red team: name resolution cannot hold the proxy or the service', () => {
  it('a name that never resolves is refused in bounded time, and its connection slot is freed', async () => {
    const hanging: HostResolver = (host) =>
      host === 'hang.test' ? new Promise<string[]>(() => undefined) : loopbackResolver(host);
    const { proxy } = await startProxy({ maxOpenConnections: 1 }, hanging, { resolveTimeoutMs: 300 });
    proxy.bind(
      'execution-redteam',
      policyFor(`hang.test:${origin.port}`, `origin.test:${origin.port}`, `127.0.0.1:${origin.port}`),
    );
    const stuck = await rawExchange(
      proxy.socketPath,
      `CONNECT hang.test:${origin.port} HTTP/1.1\r\n\r\n`,
      3_000,
    );
    expect(stuck.text).toMatch(/^HTTP\/1\.1 403/);
    expect(stuck.text).toContain('cannot resolve (ETIMEOUT)');
    expect(stuck.ms).toBeLessThan(2_000);
    // The one open-connection slot is free again (an address needs no lookup)...
    const next = await rawExchange(
      proxy.socketPath,
      `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`,
      300,
    );
    expect(next.text).toMatch(/^HTTP\/1\.1 200/);
    await settle();
    // ...while the lookup itself still holds this sandbox's one resolver slot: its names wait, in bounded time.
    const named = await rawExchange(
      proxy.socketPath,
      `CONNECT origin.test:${origin.port} HTTP/1.1\r\n\r\n`,
      3_000,
    );
    expect(named.text).toMatch(/^HTTP\/1\.1 403/);
    expect(named.ms).toBeLessThan(2_000);
  });

  it("one sandbox's slow names cannot occupy the service's resolver threads (libuv's pool of 4, shared with file I/O)", async () => {
    let running = 0;
    let most = 0;
    const started: string[] = [];
    // getaddrinfo on a name whose servers never answer: a threadpool thread held until glibc gives up.
    const slow: HostResolver = (host) => {
      started.push(host);
      running += 1;
      most = Math.max(most, running);
      return new Promise((resolve) =>
        setTimeout(() => {
          running -= 1;
          resolve(host.startsWith('slow') ? [] : ['127.0.0.1']);
        }, 1_500),
      );
    };
    const gateway = new EgressGateway({
      socketName: 'egress.sock',
      caps: { maxConnections: 100, maxOpenConnections: 8, maxBytes: 1024 * 1024 },
      resolve: slow,
      metrics: { egressRequest: () => undefined },
      logger: pino({ level: 'silent' }),
    });
    const hostileDir = mkdtempSync(join(directory, 'hostile-'));
    const otherDir = mkdtempSync(join(directory, 'other-'));
    const hostile = await gateway.open('hostile', hostileDir);
    const other = await gateway.open('other', otherDir);
    closers.push(
      () => hostile.close(),
      () => other.close(),
    );
    hostile.bind(
      'execution-hostile',
      narrowNetworkPolicy(['*'], [{ kind: 'any', host: '', ports: undefined, reachesPrivate: false }]),
    );
    other.bind('execution-other', policyFor(`origin.test:${origin.port}`));
    const attacks = Array.from({ length: 8 }, (_, index) =>
      rawExchange(hostile.socketPath, `CONNECT slow${index}.attacker.test:443 HTTP/1.1\r\n\r\n`, 4_000),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const victim = rawExchange(
      other.socketPath,
      `CONNECT origin.test:${origin.port} HTTP/1.1\r\n\r\n`,
      4_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    // At most two lookups at once for the whole service, one per sandbox: the victim's is among them.
    expect(most).toBeLessThanOrEqual(2);
    expect(started).toContain('origin.test');
    await Promise.all([...attacks, victim]);
  }, 15_000);
});

describe('egress red team: a CONNECT whose client left while its name was checked', () => {
  it('dials nothing for a client that has gone (no connection to the destination on its behalf)', async () => {
    let accepted = 0;
    const destination = createTcpServer((socket) => {
      accepted += 1;
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => destination.listen(0, '127.0.0.1', resolve));
    closers.push(() => destination.close());
    const { port } = destination.address() as AddressInfo;
    const slow: HostResolver = async (host) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return loopbackResolver(host);
    };
    const { proxy, log } = await startProxy({}, slow);
    proxy.bind('execution-redteam', policyFor(`slow.test:${port}`));
    const client = connect(proxy.socketPath);
    client.on('error', () => undefined);
    client.write(`CONNECT slow.test:${port} HTTP/1.1\r\n\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.destroy();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(accepted).toBe(0);
    expect(auditLines(log).map((line) => line.egress)).toMatchObject([
      {
        method: 'CONNECT',
        host: 'slow.test',
        decision: 'denied',
        reason: 'the client closed the connection first',
      },
    ]);
  });

  it('survives a client gone before its refusal is written (no unhandled socket error in the service)', async () => {
    const slow: HostResolver = async (host) => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return loopbackResolver(host);
    };
    const { proxy } = await startProxy({}, slow);
    for (const target of ['refused.test:443', `origin.test:${origin.port}`]) {
      const client = connect(proxy.socketPath);
      client.on('error', () => undefined);
      client.write(`CONNECT ${target} HTTP/1.1\r\n\r\n`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      client.destroy();
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const after = await rawExchange(
      proxy.socketPath,
      `CONNECT origin.test:${origin.port} HTTP/1.1\r\n\r\n`,
      500,
    );
    expect(after.text).toMatch(/^HTTP\/1\.1 200/);
  });

  it('still carries bytes a client sent after its CONNECT, before the tunnel was up', async () => {
    const echo = createTcpServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    closers.push(() => echo.close());
    const { port } = echo.address() as AddressInfo;
    const slow: HostResolver = async (host) => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return loopbackResolver(host);
    };
    const { proxy } = await startProxy({}, slow);
    proxy.bind('execution-redteam', policyFor(`echo.test:${port}`));
    const client = connect(proxy.socketPath);
    let received = '';
    client.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    client.write(`CONNECT echo.test:${port} HTTP/1.1\r\n\r\nfirst `);
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.write('second');
    await new Promise((resolve) => setTimeout(resolve, 500));
    client.destroy();
    expect(received).toBe('HTTP/1.1 200 Connection Established\r\n\r\nfirst second');
  });
});

describe('egress red team: the attempt cap stops the work, not only the connections', () => {
  it('past its attempt cap a program gets one audited refusal and a closed connection, not a log line per request', async () => {
    const { proxy, log } = await startProxy({ maxConnections: 4 });
    const flood = `GET http://elsewhere.test:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(500);
    const reply = await rawExchange(proxy.socketPath, flood, 2_000);
    await settle();
    const answers = reply.text.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    // Four policy refusals, the first 429 past the cap, then the proxy hangs up.
    expect(reply.closed).toBe(true);
    expect(answers.length).toBeLessThanOrEqual(5);
    expect(answers.at(-1)).toBe('HTTP/1.1 429');
    expect(auditLines(log)).toHaveLength(5);
    // A fresh connection past the cap costs no log line either.
    for (let index = 0; index < 20; index += 1) {
      await rawExchange(
        proxy.socketPath,
        `GET http://origin.test:${origin.port}/ HTTP/1.1\r\nHost: a\r\n\r\n`,
        500,
      );
    }
    expect(auditLines(log)).toHaveLength(5);
    expect(proxy.report().denied).toBeGreaterThanOrEqual(25);
  });
});

describe('egress red team: what held (kept as regression tests)', () => {
  it('judges each pipelined request on its own: a second request on the connection to another host is refused', async () => {
    const { proxy, log } = await startProxy();
    const before = origin.requests.length;
    const reply = await rawExchange(
      proxy.socketPath,
      `GET http://origin.test:${origin.port}/first HTTP/1.1\r\nHost: a\r\n\r\n` +
        `GET http://elsewhere.test:${origin.port}/second HTTP/1.1\r\nHost: origin.test\r\n\r\n`,
      500,
    );
    await settle();
    expect(reply.text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 403']);
    expect(origin.requests.slice(before).map((request) => request.url)).toEqual(['/first']);
    expect(
      auditLines(log)
        .map((line) => (line.egress as { decision: string }).decision)
        .sort(),
    ).toEqual(['allowed', 'denied']);
  });

  it('sends bytes after an Upgrade request nowhere (no upgrade listener: the proxy never switches protocols)', async () => {
    const { proxy } = await startProxy();
    const before = origin.requests.length;
    await rawExchange(
      proxy.socketPath,
      `GET http://origin.test:${origin.port}/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n` +
        'GET /after-upgrade HTTP/1.1\r\nHost: internal.example\r\n\r\n',
      500,
    );
    await settle();
    const seen = origin.requests.slice(before);
    expect(seen.map((request) => request.url)).toEqual(['/ws']);
    expect(seen[0]?.headers.upgrade).toBeUndefined();
  });
});
