export interface Route {
  status: number;
  body: string;
  headers?: Record<string, string>;
}
export interface TestServer {
  origin: string;
  /** A port nothing listens on (a network error). */
  closedPort: number;
  close(): Promise<void>;
}
export function startServer(routes: Record<string, Route>): Promise<TestServer>;
