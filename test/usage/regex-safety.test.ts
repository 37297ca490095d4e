/**
 * Every regular expression in src/ sees outside input sooner or later (bodies, headers, option
 * strings). Each must run in linear time: recheck (a ReDoS checker) must call it safe, and each
 * must get through 1 MB of adversarial text built from its own pieces. A quadratic pattern
 * would take minutes on that input; the test's timeout catches it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkSync } from 'recheck';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { classifyUpstreamError } from '../../src/usage/classify.js';

const SRC = join(import.meta.dirname, '../../src');
const MB = 1 << 20;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

interface FoundPattern {
  where: string;
  source: string;
  flags: string;
}

/** Regex literals and `new RegExp('…')` calls with literal arguments, found by TypeScript's parser. */
function patternsIn(file: string): FoundPattern[] {
  const text = readFileSync(file, 'utf8');
  const tree = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: FoundPattern[] = [];
  const where = (node: ts.Node) =>
    `${relative(SRC, file)}:${tree.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  const visit = (node: ts.Node) => {
    if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
      const literal = node.getText(tree);
      const end = literal.lastIndexOf('/');
      found.push({ where: where(node), source: literal.slice(1, end), flags: literal.slice(end + 1) });
    } else if (
      ts.isNewExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'RegExp'
    ) {
      const [source, flags] = node.arguments ?? [];
      // A pattern built at run time cannot be checked here: none may exist.
      expect(source && ts.isStringLiteralLike(source), `${where(node)}: RegExp from a literal`).toBe(true);
      found.push({
        where: where(node),
        source: (source as ts.StringLiteralLike).text,
        flags: flags && ts.isStringLiteralLike(flags) ? flags.text : '',
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(tree);
  return found;
}

const patterns = sourceFiles(SRC).flatMap(patternsIn);

/** Inputs that make a backtracking pattern work hardest: its own literal pieces, repeated. */
function adversarialInputs(source: string): string[] {
  const pieces = new Set<string>(['a', ' ', '1', '1.', '"', ':', '\u00ff']);
  for (const run of source.replace(/\\[dswDSW]/g, ' ').match(/[A-Za-z_ "'{:.]{2,}/g) ?? []) {
    pieces.add(run);
    pieces.add(`${run} `);
  }
  return [...pieces].map((piece) => `${piece.repeat(Math.ceil(MB / piece.length)).slice(0, MB)}!`);
}

describe('regular expressions in src/', () => {
  it('finds the patterns (the walk itself works)', () => {
    expect(patterns.length).toBeGreaterThanOrEqual(8);
    expect(patterns.map((p) => p.where).join('\n')).toContain('usage/classify.ts');
  });

  for (const pattern of patterns) {
    it(`${pattern.where} /${pattern.source}/${pattern.flags} is linear`, { timeout: 30_000 }, () => {
      const verdict = checkSync(pattern.source, pattern.flags);
      expect(verdict.status, JSON.stringify(verdict.status === 'vulnerable' ? verdict.attack : '')).toBe(
        'safe',
      );
      const regex = new RegExp(pattern.source, pattern.flags.replace('g', ''));
      for (const input of adversarialInputs(pattern.source)) regex.exec(input);
    });
  }

  it('classifies a 429 that repeats "reached your " a megabyte long (the ReDoS of issue 7)', () => {
    const message = 'reached your '.repeat(Math.ceil(MB / 13));
    const verdict = classifyUpstreamError(
      { status: 429, headers: {}, body: { error: { type: 'rate_limit_error', message } } },
      Date.now(),
    );
    // "reached your" with no "limit" in the first 4 KB read: not the subscription wording.
    expect(verdict.kind).toBe('transient');
    const capped = classifyUpstreamError(
      {
        status: 429,
        headers: {},
        body: {
          error: { type: 'rate_limit_error', message: `You have reached your 5-hour limit. ${message}` },
        },
      },
      Date.now(),
    );
    expect(capped).toMatchObject({ kind: 'cap', why: 'quota spent' });
  });
});
