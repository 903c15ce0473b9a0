import { createHash } from 'node:crypto';

/** One archive an index page lists. */
export interface ListedArchive {
  /** Absolute upstream URL, without fragment. */
  url: string;
  filename: string;
  /** The hash the index gives, when it gives one (`sha256`, `sha512`, …, hex or npm base64 SRI). */
  hash?: { algorithm: string; value: string; encoding: 'hex' | 'base64' };
}

/** A stable name for an archive of an index, usable in a URL path: sha256 of index + URL. */
export function archiveToken(index: string, url: string): string {
  return createHash('sha256').update(`${index}\n${url}`).digest('hex').slice(0, 40);
}

const ANCHOR = /<a\s([^>]*)>([^<]*)<\/a\s*>/gi;
const ATTRIBUTE = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*("[^"]*"|'[^']*')/g;

const unescapeHtml = (text: string): string =>
  text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
const escapeHtml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * Reads a PEP 503 project page and writes the page the sandbox's pip is given: the same archives and
 * their `data-requires-python` / `data-yanked`, each linked to the mirror (`fileBase` + token +
 * filename, with the index's hash fragment so pip checks it too). Everything else on the page is
 * dropped (metadata files, scripts, links elsewhere): the installer sees only archives of this index.
 */
export function rewriteSimplePage(
  html: string,
  pageUrl: string,
  index: string,
  fileBase: string,
): { html: string; archives: Map<string, ListedArchive> } {
  const archives = new Map<string, ListedArchive>();
  const links: string[] = [];
  for (const anchor of html.matchAll(ANCHOR)) {
    const attributes = new Map<string, string>();
    for (const attribute of anchor[1]!.matchAll(ATTRIBUTE)) {
      attributes.set(attribute[1]!.toLowerCase(), unescapeHtml(attribute[2]!.slice(1, -1)));
    }
    const href = attributes.get('href');
    if (href === undefined) continue;
    let absolute: URL;
    try {
      absolute = new URL(href, pageUrl);
    } catch {
      continue;
    }
    if (absolute.protocol !== 'https:' && absolute.protocol !== 'http:') continue;
    const fragment = /^#(md5|sha1|sha224|sha256|sha384|sha512)=([0-9a-fA-F]+)$/.exec(absolute.hash);
    absolute.hash = '';
    const filename =
      unescapeHtml(anchor[2]!).trim() || decodeURIComponent(absolute.pathname.split('/').pop() ?? '');
    if (!/^[A-Za-z0-9._+!-]+$/.test(filename)) continue;
    const url = absolute.toString();
    const token = archiveToken(index, url);
    const hash = fragment
      ? { algorithm: fragment[1]!, value: fragment[2]!.toLowerCase(), encoding: 'hex' as const }
      : undefined;
    archives.set(token, { url, filename, ...(hash ? { hash } : {}) });
    const kept = ['data-requires-python', 'data-yanked']
      .filter((name) => attributes.has(name))
      .map((name) => ` ${name}="${escapeHtml(attributes.get(name)!)}"`)
      .join('');
    const link = `${fileBase}${token}/${filename}${hash ? `#${hash.algorithm}=${hash.value}` : ''}`;
    links.push(`<a href="${escapeHtml(link)}"${kept}>${escapeHtml(filename)}</a><br/>`);
  }
  const page = `<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0"></head><body>\n${links.join('\n')}\n</body></html>\n`;
  return { html: page, archives };
}

/**
 * Rewrites an npm packument (the registry's JSON document of one package): every version's
 * `dist.tarball` points at the mirror; the tarballs and their `integrity`/`shasum` become the
 * archives the mirror will fetch and verify. Returns undefined for a document that is not one.
 */
export function rewritePackument(
  text: string,
  index: string,
  fileBase: string,
): { json: string; archives: Map<string, ListedArchive> } | undefined {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof document !== 'object' || document === null) return undefined;
  const versions = (document as { versions?: unknown }).versions;
  if (typeof versions !== 'object' || versions === null) return undefined;
  const archives = new Map<string, ListedArchive>();
  for (const manifest of Object.values(versions as Record<string, unknown>)) {
    const dist = (manifest as { dist?: Record<string, unknown> } | null)?.dist;
    if (!dist || typeof dist.tarball !== 'string') continue;
    let url: string;
    try {
      url = new URL(dist.tarball).toString();
    } catch {
      continue;
    }
    const filename = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? 'package.tgz');
    const token = archiveToken(index, url);
    const integrity =
      typeof dist.integrity === 'string'
        ? /^(sha512|sha384|sha256)-([A-Za-z0-9+/=]+)/.exec(dist.integrity)
        : null;
    const hash = integrity
      ? { algorithm: integrity[1]!, value: integrity[2]!, encoding: 'base64' as const }
      : typeof dist.shasum === 'string' && /^[0-9a-f]{40}$/.test(dist.shasum)
        ? { algorithm: 'sha1', value: dist.shasum, encoding: 'hex' as const }
        : undefined;
    archives.set(token, { url, filename, ...(hash ? { hash } : {}) });
    dist.tarball = `${fileBase}${token}/${encodeURIComponent(filename)}`;
  }
  return { json: JSON.stringify(document), archives };
}

/** Whether `content` matches the hash an index gave for it. */
export function matchesHash(content: Buffer, hash: NonNullable<ListedArchive['hash']>): boolean {
  return createHash(hash.algorithm).update(content).digest(hash.encoding) === hash.value;
}
