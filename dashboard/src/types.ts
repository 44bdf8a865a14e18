// The server's API types, generated from the Rust `protocol` crate. Re-exported
// here so the rest of the dashboard has one import path; never redefined.
export type {
  ErrorBody,
  LiveClientMessage,
  LiveServerMessage,
  Presence,
  SessionFilter,
  SessionInfo,
  SessionPage,
  SiteInfo,
  SiteList,
} from '../../protocol/ts/protocol';

/**
 * The few fields of an rrweb event the dashboard reads. Events are otherwise
 * handed to the player untouched.
 */
export interface RRwebEvent {
  type: number;
  timestamp: number;
  data?: unknown;
}

/** rrweb `EventType` values the dashboard looks at. */
export const EventType = {
  DomContentLoaded: 0,
  Load: 1,
  FullSnapshot: 2,
  IncrementalSnapshot: 3,
  Meta: 4,
  Custom: 5,
  Plugin: 6,
} as const;
