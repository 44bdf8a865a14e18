// What capture costs the page's main thread, measured in headless Chromium
// (Debian's `chromium`, playwright-core): main-thread task time (CDP
// `Performance.getMetrics` TaskDuration) of 1,000 console lines and of
// 1,000 fetches, with the console and network plugins installed (their
// events serialised with JSON.stringify, as the tracker's batches do) and
// without. Prints the difference per 1,000; docs/PERFORMANCE.md records it.
//
//   node test/browser/capture-cost.mjs

import { build } from "esbuild";
import { createServer } from "node:http";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const RUNS = Number(process.env.RUNS) || 9;

const entry = `
import { capturePlugins } from "./src/capture";
import { DEFAULT_SETTINGS } from "./src/settings";
window.__capture = () => {
  const sink = [];
  const stops = capturePlugins(DEFAULT_SETTINGS, null).map((p) => p.observer((e) => sink.push(JSON.stringify(e)), window, p.options));
  return () => stops.forEach((s) => s());
};`;
const bundle = await build({
  stdin: { contents: entry, resolveDir: new URL("../../", import.meta.url).pathname, loader: "ts" },
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2019",
  write: false,
});
const js = bundle.outputFiles[0].text;

const server = createServer((req, res) => {
  if (req.url === "/capture.js") return res.writeHead(200, { "content-type": "text/javascript" }).end(js);
  if (req.url === "/") return res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><script src="/capture.js"></script>');
  res.writeHead(200, { "content-type": "application/json", "content-length": "11" }).end('{"ok":true}');
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  await page.goto(base);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const scriptMs = async () => {
    const { metrics } = await cdp.send("Performance.getMetrics");
    return metrics.find((m) => m.name === "TaskDuration").value * 1000;
  };
  const work = {
    console: () => page.evaluate(() => {
      for (let i = 0; i < 1000; i++) console.log("cart updated", i, { sku: "desk-lamp", quantity: i });
    }),
    fetch: () => page.evaluate(async () => {
      for (let b = 0; b < 10; b++) await Promise.all(Array.from({ length: 100 }, (_, i) => fetch(`/api/item?i=${b * 100 + i}&token=t`).then((r) => r.text())));
    }),
  };
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  for (const [name, run] of Object.entries(work)) {
    const cost = { off: [], on: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const mode of ["off", "on"]) {
        if (mode === "on") await page.evaluate(() => (window.__stop = window.__capture()));
        const before = await scriptMs();
        await run();
        cost[mode].push((await scriptMs()) - before);
        if (mode === "on") await page.evaluate(() => window.__stop());
      }
    }
    const off = median(cost.off);
    const on = median(cost.on);
    console.log(`${name}: 1,000 without capture ${off.toFixed(1)} ms, with ${on.toFixed(1)} ms: capture costs ${(on - off).toFixed(1)} ms of main-thread time per 1,000`);
  }
} finally {
  await browser.close();
  server.close();
}
