import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { chmod, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Language } from '../domain/languages.js';
import { normalizePackageName, type PackageAllowList } from '../domain/package-allow-list.js';
import { matchesHash, rewritePackument, rewriteSimplePage, type ListedArchive } from './index-page.js';
import type { PackageCache } from './package-cache.js';
import type { PackageMetrics } from './package-metrics.js';

export interface PackageMirrorOptions {
  language: Language;
  /** The operator's index: a PEP 503 simple index URL (…/simple/) or an npm registry URL, ending in "/". */
  index: string;
  allow: PackageAllowList;
  cache: PackageCache;
  /** How long a fetched project page (PEP 503 page, npm packument) is served without asking the index again. */
  pageTtlMs: number;
  /** Largest page or archive fetched from the index. */
  maxFetchBytes: number;
  fetchTimeoutMs: number;
  metrics: PackageMetrics;
  logger: Logger;
}

/** What one install's mirror session saw: refusals, for the installer's output and the log. */
export interface MirrorSession {
  /** One line per refused request, e.g. `refused "six": not in SANDBOX_PACKAGES_ALLOW`. */
  readonly notes: string[];
  /** Archives served from the host cache and fetched from the index in this session. */
  readonly cacheHits: number;
  readonly cacheMisses: number;
  /** Stops serving (the socket is gone) and cuts open connections. Idempotent. */
  close(): Promise<void>;
}

interface CachedPage {
  body: string;
  contentType: string;
  fetchedAt: number;
}

/** Thrown for upstream trouble: the installer gets a 502 with this message. */
class UpstreamError extends Error {}

/**
 * The host side of installs: a read-only mirror of one operator-named index (PyPI-style simple index
 * or npm registry). An installer in a sandbox talks to it over a unix socket that only its own install
 * sandbox mounts, for as long as that install runs. It serves only projects the operator's allowlist
 * names (dependencies included), rewrites every archive link to itself, fetches archives from the
 * index on a miss, verifies the index's hash, and keeps them in the host-side cache, so a later
 * install of the same archive never reaches the index. Requests for anything else (a proxy request
 * to another host, CONNECT) are refused and logged.
 */
export class PackageMirror {
  private readonly pages = new Map<string, CachedPage>();
  /** Archives the index listed, by token: only these can be fetched, and only from this index. */
  private readonly archives = new Map<string, ListedArchive>();
  private readonly inFlight = new Map<string, Promise<Buffer>>();

  constructor(private readonly options: PackageMirrorOptions) {
    if (!options.index.endsWith('/')) throw new Error('the index URL must end with "/"');
  }

  /**
   * Serves this mirror on a new unix socket at `socketPath` for one install. `localBase` is the URL
   * under which the installer reaches the socket inside its sandbox (for npm's absolute tarball links).
   */
  async serve(socketPath: string, localBase: string, logger: Logger): Promise<MirrorSession> {
    const sockets = new Set<Socket>();
    const session = { notes: [] as string[], cacheHits: 0, cacheMisses: 0 };
    const server = createServer((request, response) => {
      this.handle(request, response, localBase, session, logger).catch((error: unknown) => {
        logger.error({ err: error }, 'package mirror failed a request');
        if (!response.headersSent) response.writeHead(500).end('package mirror error\n');
        else response.destroy();
      });
    });
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    // CONNECT (an HTTPS tunnel to anywhere): an install step trying to leave through the mirror.
    server.on('connect', (request: IncomingMessage, socket: Socket) => {
      this.refuseElsewhere(request.url ?? '', session, logger);
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    await rm(socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    // The sandbox user (not the service's) connects to it.
    await chmod(socketPath, 0o666);
    let closed: Promise<void> | undefined;
    return {
      get notes() {
        return session.notes;
      },
      get cacheHits() {
        return session.cacheHits;
      },
      get cacheMisses() {
        return session.cacheMisses;
      },
      close: () => {
        closed ??= new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        }).then(() => rm(socketPath, { force: true }));
        return closed;
      },
    };
  }

  private async handle(
    request: IncomingMessage,
    response: ServerResponse,
    localBase: string,
    session: { notes: string[]; cacheHits: number; cacheMisses: number },
    logger: Logger,
  ): Promise<void> {
    // An installer that sends even local requests through its proxy variables names the mirror's own
    // local address in absolute form: that is still the mirror.
    const raw = request.url ?? '/';
    const target = raw.startsWith(`${localBase}/`) ? raw.slice(localBase.length) : raw;
    if (!target.startsWith('/') || (request.method !== 'GET' && request.method !== 'HEAD')) {
      this.refuseElsewhere(`${request.method ?? '?'} ${target}`, session, logger);
      response
        .writeHead(403, { 'content-type': 'text/plain' })
        .end('refused by the package mirror: an install reaches only the package index\n');
      return;
    }
    const path = target.split('?')[0]!;
    const archive = /^\/(?:-\/)?files\/([0-9a-f]{40})\/[^/]+$/.exec(path);
    if (archive) {
      const content = await this.archive(archive[1]!, session, logger);
      if (content === undefined) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('unknown archive\n');
        return;
      }
      response.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': content.length,
      });
      response.end(request.method === 'HEAD' ? undefined : content);
      return;
    }
    const name = this.projectName(path);
    if (name === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const normalised = normalizePackageName(this.options.language, name);
    if (!this.options.allow.allows(this.options.language, normalised)) {
      session.notes.push(
        `package mirror: refused "${normalised}": not in the server's package allowlist (SANDBOX_PACKAGES_ALLOW)`,
      );
      this.options.metrics.packageRefused('not_allowed');
      logger.info(
        { packages: { project: normalised, decision: 'denied', reason: 'not_allowed' } },
        'package',
      );
      response
        .writeHead(403, { 'content-type': 'text/plain' })
        .end(`"${normalised}" is not in the server's package allowlist\n`);
      return;
    }
    try {
      const page = await this.page(normalised, localBase, logger);
      response.writeHead(200, {
        'content-type': page.contentType,
        'content-length': Buffer.byteLength(page.body),
      });
      response.end(request.method === 'HEAD' ? undefined : page.body);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      session.notes.push(`package mirror: ${error.message}`);
      response
        .writeHead(error.message.includes('404') ? 404 : 502, { 'content-type': 'text/plain' })
        .end(`${error.message}\n`);
    }
  }

  /** The project a page request names: `/simple/NAME/` (pip), `/NAME` or `/@scope%2fNAME` (npm). */
  private projectName(path: string): string | undefined {
    if (this.options.language === 'python') return /^\/simple\/([A-Za-z0-9._-]+)\/?$/.exec(path)?.[1];
    const decoded = decodeURIComponent(path.slice(1));
    return /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/i.test(decoded) ? decoded : undefined;
  }

  private refuseElsewhere(target: string, session: { notes: string[] }, logger: Logger): void {
    session.notes.push(
      `package mirror: refused ${target.slice(0, 200)}: an install reaches only the package index`,
    );
    this.options.metrics.packageRefused('not_index');
    logger.warn(
      { packages: { target: target.slice(0, 200), decision: 'denied', reason: 'not_index' } },
      'package',
    );
  }

  private async page(name: string, localBase: string, logger: Logger): Promise<CachedPage> {
    const cached = this.pages.get(name);
    if (cached && Date.now() - cached.fetchedAt < this.options.pageTtlMs) return cached;
    const { index, language } = this.options;
    const url =
      language === 'python'
        ? new URL(`${name}/`, index).toString()
        : new URL(name.replace('/', '%2f'), index).toString();
    const body = (
      await this.fetchUpstream(url, logger, language === 'python' ? 'text/html' : 'application/json')
    ).toString('utf8');
    let page: CachedPage;
    if (language === 'python') {
      const rewritten = rewriteSimplePage(body, url, index, '/files/');
      for (const [token, archive] of rewritten.archives) this.archives.set(token, archive);
      page = { body: rewritten.html, contentType: 'text/html; charset=utf-8', fetchedAt: Date.now() };
    } else {
      const rewritten = rewritePackument(body, index, `${localBase}/-/files/`);
      if (!rewritten) throw new UpstreamError(`${url} is not an npm package document`);
      for (const [token, archive] of rewritten.archives) this.archives.set(token, archive);
      page = { body: rewritten.json, contentType: 'application/json', fetchedAt: Date.now() };
    }
    this.pages.set(name, page);
    return page;
  }

  private async archive(
    token: string,
    session: { cacheHits: number; cacheMisses: number; notes: string[] },
    logger: Logger,
  ): Promise<Buffer | undefined> {
    const listed = this.archives.get(token);
    if (!listed) return undefined;
    const { cache, index, metrics } = this.options;
    const cached = await cache.get(index, listed.url);
    if (cached) {
      session.cacheHits += 1;
      metrics.packageCache('hit');
      logger.debug({ packages: { archive: listed.filename, cache: 'hit' } }, 'package');
      return cached;
    }
    session.cacheMisses += 1;
    metrics.packageCache('miss');
    let pending = this.inFlight.get(listed.url);
    if (!pending) {
      pending = this.download(listed, logger).finally(() => this.inFlight.delete(listed.url));
      this.inFlight.set(listed.url, pending);
    }
    try {
      return await pending;
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      session.notes.push(`package mirror: ${error.message}`);
      return undefined;
    }
  }

  private async download(listed: ListedArchive, logger: Logger): Promise<Buffer> {
    const content = await this.fetchUpstream(listed.url, logger, '*/*');
    if (listed.hash && !matchesHash(content, listed.hash)) {
      logger.warn(
        { packages: { archive: listed.url, decision: 'denied', reason: 'hash_mismatch' } },
        'package',
      );
      throw new UpstreamError(
        `${listed.filename} does not match the ${listed.hash.algorithm} the index gives for it`,
      );
    }
    await this.options.cache.put(this.options.index, listed.url, content);
    return content;
  }

  /** GET from the operator's index (or the archive host it lists), at most maxFetchBytes. */
  private async fetchUpstream(url: string, logger: Logger, accept: string): Promise<Buffer> {
    const started = performance.now();
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { accept },
        signal: AbortSignal.timeout(this.options.fetchTimeoutMs),
      });
    } catch (error) {
      logger.warn({ packages: { fetch: url, error: String(error) } }, 'package index unreachable');
      throw new UpstreamError(`cannot reach the package index for ${url}`);
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new UpstreamError(`the package index answered ${response.status} for ${url}`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of response.body) {
      total += (chunk as Uint8Array).length;
      if (total > this.options.maxFetchBytes) {
        throw new UpstreamError(`${url} is larger than ${this.options.maxFetchBytes} bytes`);
      }
      chunks.push(Buffer.from(chunk as Uint8Array));
    }
    this.options.metrics.packageFetchedBytes(total);
    logger.info(
      { packages: { fetch: url, bytes: total, ms: Math.round(performance.now() - started) } },
      'package fetched from index',
    );
    return Buffer.concat(chunks);
  }
}
