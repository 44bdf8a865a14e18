// gzip with the browser's CompressionStream (RFC 1952, what the server's
// binary frames hold), or null where there is none: text frames then.

export type Gzip = (text: string) => Promise<Uint8Array>;

export function gzipper(): Gzip | null {
  if (typeof CompressionStream === "undefined" || typeof Response === "undefined" || typeof Blob === "undefined") {
    return null;
  }
  return async (text) => {
    const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  };
}
