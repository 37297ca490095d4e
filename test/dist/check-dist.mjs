// Installs the packed package into a fresh folder and uses it the way users do: ESM import,
// CommonJS require, and TypeScript under both module systems. Run after `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'quota-guard-dist-'));
const run = (cmd, args, cwd = work) => {
  try {
    return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
  } catch (error) {
    // Show what the tool printed (tsc reports on stdout), not a buffer dump.
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${error.stdout?.toString() ?? ''}`);
  }
};

try {
  run('npm', ['pack', '--silent', '--pack-destination', work], repo);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  run('npm', ['install', '--silent', '--no-audit', '--no-fund', join(work, tarball)]);

  const script = `
    const g = new QuotaGuard({ budget: 10, window: '5h', resolution: 0, logger: silentLogger });
    g.recordUsage(10);
    const d = g.decide();
    if (d.route !== 'fallback' || d.reason !== 'budget_exhausted') throw new Error('unexpected decision ' + JSON.stringify(d));
    const s = new MemoryStore();
    s.define('u', { windows: [{ window: '1h', budget: 5 }] });
    if (s.decide({ upstream: 'u' }).route !== 'primary') throw new Error('store');
    console.log('ok');`;
  writeFileSync(
    join(work, 'esm.mjs'),
    `import { QuotaGuard, MemoryStore, silentLogger } from 'quota-guard';\n${script}`,
  );
  writeFileSync(
    join(work, 'cjs.cjs'),
    `const { QuotaGuard, MemoryStore, silentLogger } = require('quota-guard');\n${script}`,
  );
  for (const file of ['esm.mjs', 'cjs.cjs']) {
    const out = run('node', [file]).trim();
    if (out !== 'ok') throw new Error(`${file} printed ${out}`);
    console.log(`dist: ${file} imports and runs`);
  }

  // Types, as an ESM and as a CommonJS TypeScript consumer would see them.
  const consumer = `import { QuotaGuard, type Decision, type QuotaGuardInfo } from 'quota-guard';
const g = new QuotaGuard({ budget: 1, window: '5h' });
const d: Decision = g.decide();
const i: QuotaGuardInfo = g.info();
const route: 'primary' | 'fallback' = d.route;
// @ts-expect-error: the options are checked
new QuotaGuard({ budget: '1' });
export { i, route };
`;
  writeFileSync(join(work, 'consumer.mts'), consumer);
  writeFileSync(join(work, 'consumer.cts'), consumer);
  const tsc = join(repo, 'node_modules/typescript/bin/tsc');
  for (const file of ['consumer.mts', 'consumer.cts']) {
    run('node', [
      tsc,
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--skipLibCheck',
      'false',
      file,
    ]);
    console.log(`dist: ${file} typechecks`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
