import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import {
  importableLibraries,
  loadSandboxImagePackages,
  parseSandboxImagePackages,
} from '../../src/config/sandbox-image-packages.js';
import { packageRoot } from '../../src/config/package-root.js';
import { runCodeInputSchema } from '../../src/transport/mcp/run-code-tool.js';
import {
  describeImages,
  describeNetwork,
  sandboxFacts,
} from '../../src/transport/mcp/sandbox-description.js';

const host = { cpus: 2, memoryBytes: 8 * 1024 ** 3 };
const conf = join(packageRoot(), 'scripts/sandbox-images.conf');

describe('what the tool descriptions say about the sandbox', () => {
  it('reads the libraries from sandbox-images.conf for the configured images', () => {
    const facts = sandboxFacts(loadConfig({}, host), loadSandboxImagePackages(conf));
    expect(describeImages(facts)).toBe(
      [
        '- python: Python 3 (image code-sandbox-python:5) with numpy, pandas, matplotlib, requests and the standard library.',
        '- nodejs: Node.js (image code-sandbox-nodejs:3) with axios and the built-in modules.',
      ].join('\n'),
    );
  });

  it('does not claim libraries for an image the file does not list', () => {
    const facts = sandboxFacts(
      loadConfig({ SANDBOX_PYTHON_IMAGE: 'mine:1' }, host),
      loadSandboxImagePackages(conf),
    );
    expect(describeImages(facts)).toContain(
      "- python: Python 3 (image mine:1) with the standard library and whatever the operator's image adds.",
    );
    expect(loadSandboxImagePackages('/nonexistent/sandbox-images.conf').size).toBe(0);
  });

  it('parses the file format and keeps only what code imports', () => {
    const parsed = parseSandboxImagePackages(
      '# comment\n\nimg:1 python3,python3-numpy,python3-ipykernel,libfoo\n',
    );
    expect([...parsed.entries()]).toEqual([
      ['img:1', ['python3', 'python3-numpy', 'python3-ipykernel', 'libfoo']],
    ]);
    expect(importableLibraries(parsed.get('img:1')!)).toEqual(['numpy']);
    // Every image the service defaults to is in the real file.
    const real = parseSandboxImagePackages(readFileSync(conf, 'utf8'));
    const config = loadConfig({}, host);
    expect(real.has(config.images.python) && real.has(config.images.nodejs)).toBe(true);
  });

  it('states the network: none, or the allowlist, and offers `network` only with egress', () => {
    const closed = sandboxFacts(loadConfig({}, host), new Map());
    expect(describeNetwork(closed)).toMatch(/^Network: none\./);
    expect(runCodeInputSchema(closed).shape).not.toHaveProperty('network');

    const open = sandboxFacts(
      loadConfig({ SANDBOX_EGRESS_ALLOW: 'api.example.com,*.example.org:8443,[fd00::1]:443' }, host),
      new Map(),
    );
    expect(describeNetwork(open)).toContain(
      "the server's allowlist: api.example.com (ports 80, 443), *.example.org:8443, [fd00::1]:443.",
    );
    expect(runCodeInputSchema(open).shape).toHaveProperty('network');
  });
});
