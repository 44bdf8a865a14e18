// `npm test`: bundles test/*.test.ts with esbuild (Node 20 cannot run
// TypeScript itself) and runs them with node's test runner.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outdir = path.join(root, 'node_modules', '.cache', 'reel-dashboard-tests');
const tests = (await readdir(path.join(root, 'test'))).filter((f) => f.endsWith('.test.ts')).sort();

await rm(outdir, { recursive: true, force: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: tests.map((f) => `test/${f}`),
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
});

const files = tests.map((f) => path.join(outdir, f.replace(/\.ts$/, '.mjs')));
// In a zone with a half-hour offset and no daylight saving time, so that
// the tests of local times and their zone labels see a fixed, non-UTC zone.
const run = spawnSync(process.execPath, ['--enable-source-maps', '--test', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TZ: 'Asia/Kolkata' },
});
process.exit(run.status ?? 1);
