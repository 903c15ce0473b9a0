import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  archiveToken,
  matchesHash,
  rewritePackument,
  rewriteSimplePage,
} from '../../src/packages/index-page.js';

const INDEX = 'https://pypi.example/simple/';

describe('rewriteSimplePage (PEP 503 pages as the sandbox sees them)', () => {
  it('links every archive to the mirror with its hash, keeps requires-python, drops everything else', () => {
    const page = `<html><body>
      <a href="https://files.example/a/demo-1.0-py3-none-any.whl#sha256=ABCD" data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256=1">demo-1.0-py3-none-any.whl</a>
      <a href="../../packages/demo-0.9.tar.gz">demo-0.9.tar.gz</a>
      <a href="javascript:alert(1)">x</a><script>evil()</script>
      <a href="https://files.example/b/bad name.whl">bad name.whl</a>
    </body></html>`;
    const { html, archives } = rewriteSimplePage(page, `${INDEX}demo/`, INDEX, '/files/');
    const wheel = 'https://files.example/a/demo-1.0-py3-none-any.whl';
    const sdist = 'https://pypi.example/packages/demo-0.9.tar.gz';
    expect([...archives.values()].map((archive) => archive.url)).toEqual([wheel, sdist]);
    expect(archives.get(archiveToken(INDEX, wheel))?.hash).toEqual({
      algorithm: 'sha256',
      value: 'abcd',
      encoding: 'hex',
    });
    expect(html).toContain(
      `<a href="/files/${archiveToken(INDEX, wheel)}/demo-1.0-py3-none-any.whl#sha256=abcd" data-requires-python="&gt;=3.8">`,
    );
    expect(html).not.toMatch(/files\.example|script|javascript|metadata/);
  });

  it('names an archive by index and URL: the same URL under another index is another archive', () => {
    expect(archiveToken(INDEX, 'u')).not.toBe(archiveToken('https://other.example/simple/', 'u'));
  });
});

describe('rewritePackument (npm documents as the sandbox sees them)', () => {
  it('points every tarball at the mirror and keeps its integrity to verify', () => {
    const tarball = 'https://registry.example/lodash/-/lodash-4.17.21.tgz';
    const document = JSON.stringify({
      name: 'lodash',
      versions: { '4.17.21': { dist: { tarball, integrity: 'sha512-AAAA', shasum: 'f'.repeat(40) } } },
    });
    const rewritten = rewritePackument(
      document,
      'https://registry.example/',
      'http://127.0.0.1:3141/-/files/',
    )!;
    const token = archiveToken('https://registry.example/', tarball);
    expect(JSON.parse(rewritten.json).versions['4.17.21'].dist.tarball).toBe(
      `http://127.0.0.1:3141/-/files/${token}/lodash-4.17.21.tgz`,
    );
    expect(rewritten.archives.get(token)?.hash).toEqual({
      algorithm: 'sha512',
      value: 'AAAA',
      encoding: 'base64',
    });
    expect(rewritePackument('not json', 'x', 'y')).toBeUndefined();
  });
});

describe('matchesHash', () => {
  it('checks hex and base64 digests', () => {
    const content = Buffer.from('archive');
    const hex = createHash('sha256').update(content).digest('hex');
    expect(matchesHash(content, { algorithm: 'sha256', value: hex, encoding: 'hex' })).toBe(true);
    const b64 = createHash('sha512').update(content).digest('base64');
    expect(matchesHash(content, { algorithm: 'sha512', value: b64, encoding: 'base64' })).toBe(true);
    expect(matchesHash(Buffer.from('other'), { algorithm: 'sha256', value: hex, encoding: 'hex' })).toBe(
      false,
    );
  });
});
