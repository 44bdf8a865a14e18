import { ApiError } from './api';

/** One line saying what went wrong, for people. */
export function errorText(e: unknown, what: string): string {
  if (e instanceof ApiError) {
    if (e.status === 0) return `${what}: the server did not answer.`;
    if (e.status === 404) return `${what}: not found.`;
    return `${what}: ${e.message}`;
  }
  return `${what}: ${e instanceof Error ? e.message : String(e)}`;
}
