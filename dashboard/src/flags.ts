import { FLAGS } from '../../protocol/ts/protocol';
import type { Flag, Me } from './types';

/**
 * Is feature flag `name` on for the signed-in person? The node evaluates
 * the flags (`GET /api/v1/me` `flags`, docs/operations.md "Feature
 * flags"); a flag it did not send (an older node) takes its generated
 * default, and names this dashboard does not know are never read.
 */
export function flagOn(flags: Me['flags'] | null | undefined, name: Flag): boolean {
  const sent = flags?.[name];
  if (typeof sent === 'boolean') return sent;
  return FLAGS.find((f) => f.name === name)?.default ?? false;
}
