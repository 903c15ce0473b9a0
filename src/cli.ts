#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runStdioBridge } from './transport/mcp/stdio-bridge.js';

const USAGE = `usage: code-sandbox mcp [--url URL] [--token TOKEN]

Speaks MCP over stdio (for desktop agents) and forwards every message to a running code-sandbox's
Streamable HTTP endpoint, URL/mcp.
  --url URL      the service's HTTP base URL (env CODE_SANDBOX_URL; default http://127.0.0.1:9385)
  --token TOKEN  its SANDBOX_AUTH_TOKEN (env CODE_SANDBOX_TOKEN; none for a trusted network)`;

/** The command line: only `mcp` so far. stdout is the protocol's; everything else goes to stderr. */
async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { url: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || positionals[0] !== 'mcp' || positionals.length > 1) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const base = values.url ?? process.env.CODE_SANDBOX_URL ?? 'http://127.0.0.1:9385';
  let endpoint: URL;
  try {
    endpoint = mcpEndpoint(base);
  } catch {
    process.stderr.write(`code-sandbox mcp: not an http(s) URL: ${base}\n`);
    return 2;
  }
  await runStdioBridge({
    endpoint,
    token: values.token ?? (process.env.CODE_SANDBOX_TOKEN || undefined),
    log: (message) => process.stderr.write(`code-sandbox mcp: ${message}\n`),
  });
  return 0;
}

/** The base URL's /mcp (a URL already ending in /mcp is kept as it is). */
function mcpEndpoint(base: string): URL {
  const url = new URL(base);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  if (!url.pathname.replace(/\/+$/, '').endsWith('/mcp')) {
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/mcp`;
  }
  return url;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`code-sandbox mcp: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
