import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PackageAllowList } from '../../src/domain/package-allow-list.js';
import { PackageCache } from '../../src/packages/package-cache.js';
import { PackageMirror } from '../../src/packages/package-mirror.js';
import type { PackageMetrics } from '../../src/packages/package-metrics.js';

// The mirror against a real index on loopback, over its real unix socket (no Docker: what the install
// sandbox's pip would send, sent by this test).
const logger = pino({ level: 'silent' });
const wheel = Buffer.from('pretend wheel bytes');
const wheelSha = createHash('sha256').update(wheel).digest('hex');
let tampered = false;
const upstreamRequests: string[] = [];
let upstream: Server;
let index = '';
let root = '';

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'mirror-test-'));
  upstream = createServer((request, response) => {
    upstreamRequests.push(request.url ?? '');
    if (request.url === '/simple/demo/') {
      response.end(
        `<a href="/files/demo-1.0-py3-none-any.whl#sha256=${wheelSha}" data-requires-python="&gt;=3.7">demo-1.0-py3-none-any.whl</a>` +
          `<a href="/files/evil-1.0.whl#sha256=${'0'.repeat(64)}">evil-1.0.whl</a>`,
      );
    } else if (request.url === '/files/demo-1.0-py3-none-any.whl') {
      response.end(tampered ? Buffer.from('tampered') : wheel);
    } else if (request.url === '/files/evil-1.0.whl') {
      response.end('does not match its hash');
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  index = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/simple/`;
});

afterAll(() => {
  upstream.close();
  rmSync(root, { recursive: true, force: true });
});

function recordingMetrics() {
  const seen = { hit: 0, miss: 0, bytes: 0, refused: [] as string[] };
  const metrics: PackageMetrics = {
    packageInstall: () => undefined,
    packageCache: (result) => void (seen[result] += 1),
    packageFetchedBytes: (bytes) => void (seen.bytes += bytes),
    packageRefused: (reason) => void seen.refused.push(reason),
  };
  return { seen, metrics };
}

async function mirrorOn(cacheDir: string, metrics: PackageMetrics, allow = ['python:demo', 'python:evil']) {
  const cache = await PackageCache.open(cacheDir, 1024 * 1024, logger);
  const mirror = new PackageMirror({
    language: 'python',
    index,
    allow: PackageAllowList.parse(allow).list,
    cache,
    pageTtlMs: 60_000,
    maxFetchBytes: 1024 * 1024,
    fetchTimeoutMs: 5000,
    metrics,
    logger,
  });
  const socketPath = join(root, `m-${Math.random().toString(36).slice(2)}.sock`);
  const session = await mirror.serve(socketPath, 'http://127.0.0.1:3141', logger);
  const get = (path: string) =>
    new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const request = httpRequest({ socketPath, path, method: 'GET' }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      });
      request.on('error', reject);
      request.end();
    });
  return { session, get, socketPath };
}

const archiveLink = (page: string, filename: string) =>
  new RegExp(`href="(/files/[0-9a-f]{40}/${filename.replace(/\./g, '\\.')})#`).exec(page)?.[1];

describe('PackageMirror (host side of installs)', () => {
  const cacheDir = () => join(root, 'cache');

  it('rewrites the index page to itself, fetches on a miss, serves the second request from the cache', async () => {
    const { seen, metrics } = recordingMetrics();
    const { session, get } = await mirrorOn(cacheDir(), metrics);
    const page = await get('/simple/demo/');
    expect(page.status).toBe(200);
    const text = page.body.toString();
    expect(text).toContain('data-requires-python="&gt;=3.7"');
    expect(text).not.toContain('127.0.0.1');
    const link = archiveLink(text, 'demo-1.0-py3-none-any.whl')!;
    expect((await get(link)).body).toEqual(wheel);
    expect((await get(link)).body).toEqual(wheel);
    expect(upstreamRequests.filter((url) => url.startsWith('/files/demo'))).toHaveLength(1);
    expect(seen).toMatchObject({ hit: 1, miss: 1 });
    expect(session.cacheHits).toBe(1);
    await session.close();
  });

  it('keeps the cache across a restart: a new mirror on the same directory fetches the page, not the archive', async () => {
    const { seen, metrics } = recordingMetrics();
    const { session, get } = await mirrorOn(cacheDir(), metrics);
    const before = upstreamRequests.length;
    const link = archiveLink((await get('/simple/demo/')).body.toString(), 'demo-1.0-py3-none-any.whl')!;
    expect((await get(link)).body).toEqual(wheel);
    expect(upstreamRequests.slice(before)).toEqual(['/simple/demo/']);
    expect(seen.hit).toBe(1);
    await session.close();
  });

  it('refetches (and re-verifies) an archive whose cached bytes were changed on disk', async () => {
    const blobs = join(cacheDir(), 'blobs');
    for (const blob of readdirSync(blobs)) writeFileSync(join(blobs, blob), 'changed on disk');
    const { metrics } = recordingMetrics();
    const { session, get } = await mirrorOn(cacheDir(), metrics);
    const link = archiveLink((await get('/simple/demo/')).body.toString(), 'demo-1.0-py3-none-any.whl')!;
    expect((await get(link)).body).toEqual(wheel);
    await session.close();
  });

  it('refuses an archive that does not match the hash the index gives', async () => {
    const { metrics } = recordingMetrics();
    const { session, get } = await mirrorOn(join(root, 'cache-hash'), metrics);
    const link = archiveLink((await get('/simple/demo/')).body.toString(), 'evil-1.0.whl')!;
    expect((await get(link)).status).toBe(404);
    expect(session.notes.join('\n')).toContain(
      'evil-1.0.whl does not match the sha256 the index gives for it',
    );
    tampered = true;
    try {
      const demo = archiveLink((await get('/simple/demo/')).body.toString(), 'demo-1.0-py3-none-any.whl')!;
      expect((await get(demo)).status).toBe(404);
    } finally {
      tampered = false;
      await session.close();
    }
  });

  it('refuses projects off the allowlist, proxy requests and CONNECT to other hosts, and unknown archives', async () => {
    const { seen, metrics } = recordingMetrics();
    const { session, get, socketPath } = await mirrorOn(join(root, 'cache-refuse'), metrics, ['python:demo']);
    const before = upstreamRequests.length;
    expect((await get('/simple/evil/')).status).toBe(403);
    expect((await get('http://collector.test/leak')).status).toBe(403);
    expect((await get(`/files/${'a'.repeat(40)}/x.whl`)).status).toBe(404);
    const connect = await new Promise<number>((resolve) => {
      httpRequest({ socketPath, method: 'CONNECT', path: 'collector.test:443' })
        .on('connect', (response) => resolve(response.statusCode ?? 0))
        .end();
    });
    expect(connect).toBe(403);
    expect(upstreamRequests.length).toBe(before);
    expect(seen.refused).toEqual(['not_allowed', 'not_index', 'not_index']);
    expect(session.notes[0]).toBe(
      'package mirror: refused "evil": not in the server\'s package allowlist (SANDBOX_PACKAGES_ALLOW)',
    );
    await session.close();
  });
});
