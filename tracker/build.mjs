// Bundles src/index.ts into one minified IIFE, dist/tracker.js, and prints
// its raw, gzip and brotli sizes. `--budget` fails the build when the gzip
// size passes GZIP_BUDGET_BYTES (`npm run size`; scripts/test runs it, so
// the tracker stays small).
//
//   node build.mjs            build and print sizes
//   node build.mjs --budget   also fail above the budget

import { build } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

/** Issue 12's "at most 35 KB gzip", in bytes. rrweb's recorder is about 23 KB of it,
 * its console plugin 2.5 KB; ours adds the rest. */
const GZIP_BUDGET_BYTES = 35_000;
/** Browsers with CompressionStream all run ES2020; es2019 keeps Safari 13 working with text frames. */
const TARGET = "es2019";
const OUT = "dist/tracker.js";

const rrwebVersion = JSON.parse(readFileSync("node_modules/@rrweb/record/package.json", "utf8")).version;

/**
 * rrweb inlines the source of its canvas worker (about 0.8 KB gzipped) for
 * `recordCanvas` with a sampling rate; the tracker never records canvas
 * (recorder.ts), so the string is left out. Fails the build if rrweb no
 * longer has it, rather than silently keeping it.
 */
const noCanvasWorker = {
  name: "no-canvas-worker",
  setup(b) {
    b.onLoad({ filter: /[\\/]@rrweb[\\/]record[\\/]dist[\\/]record\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      const contents = source.replace(/const jsContent = '(?:[^'\\]|\\.)*';/, 'const jsContent = "";');
      if (contents === source) throw new Error("rrweb's canvas worker source (jsContent) not found in " + args.path);
      return { contents, loader: "js" };
    });
  },
};

mkdirSync("dist", { recursive: true });
await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  minify: true,
  format: "iife",
  target: TARGET,
  platform: "browser",
  outfile: OUT,
  legalComments: "eof",
  banner: { js: `/*! reel tracker | includes rrweb ${rrwebVersion} (MIT, https://github.com/rrweb-io/rrweb) */` },
  define: { "process.env.NODE_ENV": '"production"' },
  plugins: [noCanvasWorker],
  logLevel: "warning",
});

const code = readFileSync(OUT);
const gz = gzipSync(code, { level: 9 }).length;
const br = brotliCompressSync(code, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`${OUT}: ${code.length} bytes (${kb(code.length)}), gzip ${gz} bytes (${kb(gz)}), brotli ${br} bytes (${kb(br)})`);
writeFileSync("dist/size.json", JSON.stringify({ raw: code.length, gzip: gz, brotli: br }) + "\n");

if (process.argv.includes("--budget") && gz > GZIP_BUDGET_BYTES) {
  console.error(`tracker is ${gz} bytes gzipped, over its budget of ${GZIP_BUDGET_BYTES}`);
  process.exit(1);
}
