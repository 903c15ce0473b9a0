import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { loadSandboxImagePackages } from '../../src/config/sandbox-image-packages.js';
import { SANDBOX_IMAGES_FILE } from '../../src/config/sandbox-images.js';
import { packageRoot } from '../../src/config/package-root.js';
import type { ExecutionService } from '../../src/execution/execution-service.js';
import type { SessionService } from '../../src/session/session-service.js';
import { sandboxFacts } from '../../src/transport/mcp/sandbox-description.js';
import { sandboxToolbox } from '../../src/transport/mcp/sandbox-toolbox.js';

const MARKER = '<!-- run_code tools/list entry -->';

/** The tools a server with the default configuration lists (the services are never called here). */
function defaultListing() {
  const config = loadConfig({}, { cpus: 2, memoryBytes: 8 * 1024 ** 3 });
  const packages = loadSandboxImagePackages(join(packageRoot(), SANDBOX_IMAGES_FILE));
  const unused = {} as ExecutionService & SessionService;
  return sandboxToolbox(unused, unused, sandboxFacts(config, packages), pino({ level: 'silent' })).listing;
}

describe('docs/mcp.md', () => {
  it('shows the run_code entry a model sees, as the server generates it', () => {
    const doc = readFileSync(join(packageRoot(), 'docs/mcp.md'), 'utf8');
    const block = /```json\n([\s\S]*?)\n```/.exec(doc.slice(doc.indexOf(MARKER)))?.[1];
    expect(doc).toContain(MARKER);
    const runCode = defaultListing().find((tool) => tool.name === 'run_code')!;
    // On a mismatch, paste the expected value (the server's) under the marker.
    expect(JSON.parse(block ?? 'null')).toEqual({
      name: runCode.name,
      description: runCode.description,
      inputSchema: runCode.inputSchema,
    });
  });

  it('names every tool the server lists', () => {
    const doc = readFileSync(join(packageRoot(), 'docs/mcp.md'), 'utf8');
    for (const tool of defaultListing()) expect(doc).toContain(`| \`${tool.name}\``);
  });
});
