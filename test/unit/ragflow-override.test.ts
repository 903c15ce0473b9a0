import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const OVERRIDE = parse(readFileSync('deploy/ragflow/docker-compose.override.yml', 'utf8')) as {
  services: Record<string, { user?: string; healthcheck?: { test?: string[] } }>;
};
const SERVICE = OVERRIDE.services['sandbox-executor-manager']!;

/** The operating page's section on the override file, up to the next section. */
function documentedOverrideSection(): string {
  const readme = readFileSync('docs/operating.md', 'utf8');
  const start = readme.indexOf("### Inside RAGFlow's compose (override file)");
  expect(start).toBeGreaterThan(0);
  return readme.slice(start, readme.indexOf('\n## ', start));
}

describe("deploy/ragflow/docker-compose.override.yml (RAGFlow's compose)", () => {
  it('reports healthy only while sandboxes can start: its healthcheck asks /readyz', () => {
    const test = SERVICE.healthcheck?.test ?? [];
    expect(test.slice(0, 2)).toEqual(['CMD', 'node']);
    expect(test.join(' ')).toContain("fetch('http://127.0.0.1:9385/readyz')");
    expect(test.join(' ')).not.toContain('/healthz');
  });

  it('runs as the user docs/operating.md states', () => {
    const stated = [...documentedOverrideSection().matchAll(/`user: '([^']+)'`/g)].map((match) => match[1]);
    expect(stated).toEqual([SERVICE.user]);
  });
});
