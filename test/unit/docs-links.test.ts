import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/config/package-root.js';
import { githubSlug, headingAnchors, linkTargets } from '../support/markdown.js';

const ROOT = packageRoot();

/** The pages a reader moves between: the front page, docs/, the clients' READMEs, CONTRIBUTING. */
function pages(): string[] {
  const inDirectory = (directory: string, keep: (name: string) => boolean) =>
    existsSync(join(ROOT, directory))
      ? readdirSync(join(ROOT, directory))
          .filter(keep)
          .map((name) => join(directory, name))
      : [];
  return [
    'README.md',
    'CONTRIBUTING.md',
    ...inDirectory('docs', (name) => name.endsWith('.md')),
    ...inDirectory('clients', (name) => existsSync(join(ROOT, 'clients', name, 'README.md'))).map((client) =>
      join(client, 'README.md'),
    ),
  ];
}

/** Every relative link of every page that leads nowhere: a missing file or a missing heading. */
function brokenLinks(): string[] {
  const anchorsOf = new Map<string, Set<string>>();
  const anchors = (file: string) => {
    if (!anchorsOf.has(file)) anchorsOf.set(file, headingAnchors(readFileSync(join(ROOT, file), 'utf8')));
    return anchorsOf.get(file)!;
  };
  return pages().flatMap((page) =>
    linkTargets(readFileSync(join(ROOT, page), 'utf8')).flatMap(({ line, target }) => {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return []; // https:, mailto: — not ours to check offline
      const [path = '', anchor] = target.split('#', 2);
      const file =
        path === '' ? page : relative(ROOT, join(dirname(join(ROOT, page)), decodeURIComponent(path)));
      const where = `${page}:${line} → ${target}`;
      if (file.startsWith('..') || !existsSync(join(ROOT, file))) return [`${where}: no such file`];
      if (anchor === undefined) return [];
      if (!statSync(join(ROOT, file)).isFile() || !file.endsWith('.md'))
        return [`${where}: not a Markdown page`];
      return anchors(file).has(decodeURIComponent(anchor)) ? [] : [`${where}: no such heading in ${file}`];
    }),
  );
}

describe('githubSlug (the anchors GitHub gives headings)', () => {
  it.each([
    ['Sessions: a stateful interpreter per conversation', 'sessions-a-stateful-interpreter-per-conversation'],
    ["Inside RAGFlow's compose (override file)", 'inside-ragflows-compose-override-file'],
    ['RAGFlow: `POST /run`', 'ragflow-post-run'],
    ['Slow clients, memory per request, fairness', 'slow-clients-memory-per-request-fairness'],
    ['Stock gRPC from Python (no SDK)', 'stock-grpc-from-python-no-sdk'],
    ['A [linked](https://example.com) heading_with-marks', 'a-linked-heading_with-marks'],
  ])('%s → #%s', (heading, slug) => {
    expect(githubSlug(heading)).toBe(slug);
  });

  it('numbers a repeated heading, and ignores # lines in code blocks', () => {
    const anchors = headingAnchors('# Tests\n\n## Tests\n\n```sh\n# not a heading\n```\n');
    expect([...anchors]).toEqual(['tests', 'tests-1']);
  });
});

describe('links between the README, docs/ and the clients', () => {
  it('reads every page a reader is sent to', () => {
    const read = pages();
    for (const page of [
      'README.md',
      'CONTRIBUTING.md',
      'docs/api.md',
      'docs/configuration.md',
      'clients/python/README.md',
    ])
      expect(read).toContain(page);
    // A page no link reaches is one no reader finds.
    const linked = new Set(
      read.flatMap((page) =>
        linkTargets(readFileSync(join(ROOT, page), 'utf8')).map(({ target }) =>
          relative(ROOT, join(dirname(join(ROOT, page)), target.split('#')[0]!)),
        ),
      ),
    );
    expect(read.filter((page) => page !== 'README.md' && !linked.has(page))).toEqual([]);
  });

  it('leads every relative link to an existing file, and every #anchor to a heading there', () => {
    expect(brokenLinks()).toEqual([]);
  });
});
