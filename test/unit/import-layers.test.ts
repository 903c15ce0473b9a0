import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The layering ARCHITECTURE.md states, checked on the source itself so a new import cannot quietly break it.
const REPO = normalize(join(dirname(fileURLToPath(import.meta.url)), '../..'));
const SRC = join(REPO, 'src');

/** One import of one source file: a project file (repo-relative, .ts) or a package name. */
interface Import {
  from: string;
  project?: string;
  pkg?: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

// Static imports and re-exports (`from '…'`), side-effect imports (`import '…'`) and dynamic `import('…')`.
const SPECIFIER = /\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file: string): Import[] {
  const from = relative(REPO, file);
  return [...readFileSync(file, 'utf8').matchAll(SPECIFIER)].map((match) => {
    const specifier = match[1] ?? match[2] ?? match[3] ?? '';
    if (!specifier.startsWith('.')) {
      const parts = specifier.split('/');
      const pkg = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
      return { from, pkg };
    }
    const target = relative(REPO, join(dirname(file), specifier)).replace(/\.js$/, '.ts');
    return { from, project: target };
  });
}

const IMPORTS = sourceFiles(SRC).flatMap(importsOf);
const folderOf = (path: string): string => dirname(path);

/** Folder → folders its files import (itself excluded). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { from, project } of IMPORTS) {
    const source = folderOf(from);
    if (!graph.has(source)) graph.set(source, new Set());
    if (project === undefined || folderOf(project) === source) continue;
    graph.get(source)?.add(folderOf(project));
  }
  return graph;
}

/** Strongly connected components with more than one folder: each is an import cycle among folders. */
function folderCycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next += 1;
    stack.push(node);
    onStack.add(node);
    for (const target of graph.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(target) ?? 0));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(target) ?? 0));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    for (let member = stack.pop(); member !== undefined; member = stack.pop()) {
      onStack.delete(member);
      component.push(member);
      if (member === node) break;
    }
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

const within = (path: string, folder: string): boolean => path === folder || path.startsWith(`${folder}/`);

describe('import layers of src/', () => {
  it('finds the source and its imports', () => {
    expect(IMPORTS.some((i) => i.project === 'src/app.ts' || i.from === 'src/app.ts')).toBe(true);
    expect(IMPORTS.filter((i) => i.pkg === 'dockerode').length).toBeGreaterThan(0);
  });

  it('every project import names a file that exists', () => {
    const files = new Set(sourceFiles(SRC).map((file) => relative(REPO, file)));
    const missing = IMPORTS.filter((i) => i.project !== undefined && !files.has(i.project));
    expect(missing).toEqual([]);
  });

  it('has no import cycles among folders (so no folder imports a folder that imports it)', () => {
    expect(folderCycles(folderGraph())).toEqual([]);
  });

  it('domain, errors and config import nothing of the project but each other', () => {
    const base = ['src/domain', 'src/errors', 'src/config'];
    const offending = IMPORTS.filter(
      (i) =>
        base.some((folder) => within(folderOf(i.from), folder)) &&
        i.project !== undefined &&
        !base.some((folder) => within(i.project ?? '', folder)),
    );
    expect(offending).toEqual([]);
  });

  it('execution never imports dockerode, grpc or fastify', () => {
    const offending = IMPORTS.filter(
      (i) =>
        within(i.from, 'src/execution') &&
        i.pkg !== undefined &&
        (i.pkg === 'dockerode' ||
          i.pkg.startsWith('@grpc/') ||
          i.pkg === 'fastify' ||
          i.pkg.startsWith('@fastify/')),
    );
    expect(offending).toEqual([]);
  });

  it('transport never imports sandbox', () => {
    const offending = IMPORTS.filter(
      (i) => within(i.from, 'src/transport') && i.project !== undefined && within(i.project, 'src/sandbox'),
    );
    expect(offending).toEqual([]);
  });

  it('only src/sandbox imports dockerode', () => {
    const offending = IMPORTS.filter((i) => i.pkg === 'dockerode' && !within(i.from, 'src/sandbox'));
    expect(offending).toEqual([]);
  });
});
