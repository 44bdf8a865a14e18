// A real HTTP server for unit tests that need one (Node's `node:http`,
// kept in JavaScript because the tests are type-checked without Node's
// types; `server.d.mts` declares it).

import { createServer } from "node:http";

/** Starts a server on 127.0.0.1 answering `routes[path]` ({status, body, headers}) and 404 otherwise; also finds a port nothing listens on. */
export async function startServer(routes) {
  const http = createServer((req, res) => {
    req.resume();
    const r = routes[new URL(req.url, "http://x").pathname];
    if (!r) return res.writeHead(404).end();
    res.writeHead(r.status, { "content-length": Buffer.byteLength(r.body), ...(r.headers ?? {}) }).end(r.body);
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  const spare = createServer();
  await new Promise((r) => spare.listen(0, "127.0.0.1", r));
  const closedPort = spare.address().port;
  await new Promise((r) => spare.close(r));
  return {
    origin: `http://127.0.0.1:${http.address().port}`,
    closedPort,
    close: () => new Promise((r) => http.close(r)),
  };
}
