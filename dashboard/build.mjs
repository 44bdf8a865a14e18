// Builds the dashboard into dist/: index.html plus content-hashed
// app-[hash].js and app-[hash].css (rrweb-player's CSS included). The server
// serves dist/ at /app/: index.html short-cached, hashed files immutable.
//
//   node build.mjs            production build
//   REEL_DASHBOARD_BASE=/x/   serve from another path (default /app/)
import * as esbuild from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(root, 'dist');
const base = process.env.REEL_DASHBOARD_BASE ?? '/app/';
if (!base.startsWith('/') || !base.endsWith('/')) {
  throw new Error(`REEL_DASHBOARD_BASE must start and end with "/", got ${JSON.stringify(base)}`);
}

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: 'src/main.ts' },
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.entries(result.metafile.outputs).map(([file, info]) => ({
  file: path.relative(outdir, path.join(root, file)),
  entryPoint: info.entryPoint,
  cssBundle: info.cssBundle,
}));
const js = outputs.find((o) => o.entryPoint && o.file.endsWith('.js'));
if (!js) throw new Error('esbuild produced no JavaScript entry');
const css = js.cssBundle ? path.relative(outdir, path.join(root, js.cssBundle)) : null;

const escape = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>reel</title>
<link rel="icon" href="data:,">
${css ? `<link rel="stylesheet" href="${escape(base + css)}">\n` : ''}<script type="module" src="${escape(base + js.file)}"></script>
</head>
<body>
<noscript>The reel dashboard needs JavaScript.</noscript>
</body>
</html>
`;
await writeFile(path.join(outdir, 'index.html'), html);

// Sizes of what a browser downloads (source maps and licence files aside).
const shipped = ['index.html', js.file, ...(css ? [css] : [])];
const rows = [];
for (const file of shipped) {
  const bytes = await readFile(path.join(outdir, file));
  rows.push([file, bytes.length, gzipSync(bytes, { level: 9 }).length]);
}
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const width = Math.max(...rows.map(([f]) => f.length));
console.log(`dist/ (base ${base})`);
for (const [file, raw, gz] of rows) {
  console.log(`  ${file.padEnd(width)}  ${kb(raw).padStart(10)}  ${kb(gz).padStart(10)} gzip`);
}
