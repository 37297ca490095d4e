/**
 * The README's and docs/' TypeScript snippets are code users paste: each must typecheck, strict, against
 * the package's own entries (`quota-guard`, `quota-guard/express`, `quota-guard/koa`). A snippet
 * may use the placeholders declared below (the user's URLs and helpers); one without imports
 * gets the Express imports and `app` the README's first example sets up. A block marked
 * `<!-- snippet: sketch -->` (a shape, not code) is skipped.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

/** The user's own things the snippets talk about. */
const PLACEHOLDERS = `
import type { UpstreamGuard, WindowOptions } from 'quota-guard';
import type { Request, Response } from 'express';
declare global {
  const PRIMARY_URL: string;
  const FALLBACK_URL: string;
  const init: RequestInit;
  const windows: WindowOptions[];
  const guard: UpstreamGuard;
  const db: { tokensSince(window: string): Promise<number> };
  function callUpstream(url: string, body: unknown): Promise<{ status: number; body: unknown; usage: { input_tokens: number; output_tokens: number } }>;
  function proxy(req: Request, res: Response): void;
  function callPrimary(): Promise<{ status: number; ok: boolean; usage: { input_tokens: number; output_tokens: number } }>;
  function callFallback(): Promise<unknown>;
  function retryAfterMs(res: unknown): number | undefined;
  const metrics: { transitions: { inc(labels: Record<string, string>): void } };
  const log: { info(message: string): void };
}
export {};
`;

/** The package's entries, as a user imports them, and their sources. */
const SOURCES: Record<string, string> = {
  'quota-guard': 'src/index.ts',
  'quota-guard/express': 'src/adapters/express.ts',
  'quota-guard/koa': 'src/adapters/koa.ts',
  'quota-guard/prometheus': 'src/prometheus.ts',
  'quota-guard/redis': 'src/redis.ts',
};

/** What a snippet without imports of its own runs after: the README's first example. */
const EXPRESS_CONTEXT = `import { Readable } from 'node:stream';
import express from 'express';
import { quotaGuard } from 'quota-guard/express';
`;

interface Snippet {
  line: number;
  code: string;
}

function snippets(markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const found: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    const sketch = lines[i - 1]?.includes('snippet: sketch') || lines[i - 2]?.includes('snippet: sketch');
    const start = i + 1;
    let end = start;
    while (lines[end] !== '```') end++;
    if (!sketch) found.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return found;
}

function asModule(code: string): string {
  if (/^import /m.test(code)) return `${code}\nexport {};\n`;
  const app = /\bconst app\b/.test(code) ? '' : 'const app = express();\n';
  // Unused context imports are fine in a snippet: it is judged by what it uses.
  return `${EXPRESS_CONTEXT}${app}void Readable; void quotaGuard;\n${code}\nexport {};\n`;
}

describe('README snippets', () => {
  // The README and the reference pages in docs/.
  const pages = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const found = pages.flatMap((page) =>
    snippets(readFileSync(join(ROOT, page), 'utf8')).map((s) => ({ ...s, page })),
  );

  it('finds the snippets', () => {
    expect(found.length).toBeGreaterThanOrEqual(8);
  });

  it('maps every public subpath to its source (a new entry must be added here too)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    const subpaths = Object.keys(pkg.exports)
      .filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? 'quota-guard' : `quota-guard/${k.slice(2)}`));
    expect(Object.keys(SOURCES).sort()).toEqual(subpaths.sort());
  });

  it('every one typechecks against the package, strict', { timeout: 120_000 }, () => {
    // Inside the project, so its node_modules (express, koa and their types) resolve as for a user.
    mkdirSync(join(ROOT, 'node_modules/.cache'), { recursive: true });
    const dir = mkdtempSync(join(ROOT, 'node_modules/.cache/readme-'));
    mkdirSync(join(dir, 'snippets'));
    writeFileSync(join(dir, 'placeholders.d.ts'), PLACEHOLDERS);
    const files = found.map((snippet) => {
      const file = join(dir, 'snippets', `${snippet.page.replace(/[/.]/g, '_')}-line-${snippet.line}.ts`);
      writeFileSync(file, asModule(snippet.code));
      return file;
    });
    const program = ts.createProgram([join(dir, 'placeholders.d.ts'), ...files], {
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts'],
      module: ts.ModuleKind.Preserve,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
      baseUrl: ROOT,
      paths: Object.fromEntries(Object.entries(SOURCES).map(([name, file]) => [name, [file]])),
    });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName.startsWith(dir))
      .map((d) => {
        const where = d.file ? d.file.fileName.slice(dir.length + 1) : '';
        return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    expect(problems).toEqual([]);
  });
});
