// The server's API types, generated from the Rust `protocol` crate. Re-exported
// here so the rest of the dashboard has one import path; never redefined.
export type {
  AuditEntry,
  AuditPage,
  EraseAccepted,
  EraseRequest,
  ErasureReceipt,
  ErrorBody,
  Flag,
  Invitation,
  InvitationCreated,
  InvitationList,
  Me,
  Member,
  MemberList,
  NewNote,
  Note,
  NoteList,
  Role,
  TokenCreated,
  TokenInfo,
  TokenList,
  LiveClientMessage,
  LiveServerMessage,
  LiveSignals,
  Presence,
  SessionFilter,
  SessionInfo,
  SessionPage,
  Settings,
  SiteInfo,
  SiteList,
  SiteUsage,
} from '../../protocol/ts/protocol';
export {
  DEFAULT_REDACT_PARAMS,
  MAX_NETWORK_BODY_URLS,
  MAX_NOTE_T_MS,
  MAX_NOTES_PER_SESSION,
  MAX_PAGE_SIZE,
  MAX_REDACT_PARAMS,
  MAX_REDACT_PATTERNS,
  MIN_PASSWORD_CHARS,
  NETWORK_BODY_MAX_BYTES,
  NETWORK_BODY_URL_MAX_BYTES,
  NOTE_TEXT_MAX_BYTES,
  REDACT_PARAM_MAX_BYTES,
  REDACT_PATTERN_MAX_BYTES,
  SITES_PER_CLIENT,
} from '../../protocol/ts/protocol';
import type { Settings } from '../../protocol/ts/protocol';

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

/**
 * The tracker settings an admin edits per site (`PATCH /api/v1/sites/{id}`
 * `settings`): the generated `Settings` without the node's own (batch and
 * frame bounds, maintenance).

 */
export type SiteSettings = Pick<
  Settings,
  | 'sample_rate'
  | 'mask_all_inputs'
  | 'mask_text'
  | 'block_selector'
  | 'honor_dnt'
  | 'capture_console'
  | 'capture_network'
  | 'capture_errors'
  | 'redact_params'
  | 'network_body_urls'
  | 'redact_patterns'
>;

/** A site as the sites API may describe it to an admin: its settings and retention when given. */
export interface SiteDetails {
  id: number;
  name: string;
  site_key: string;
  allowed_origins: string[];
  settings?: Partial<SiteSettings>;
  retention_days?: number | null;
}

/** `PATCH /api/v1/sites/{id}`: any of these. */
export interface SitePatch {
  name?: string;
  origins?: string[];
  settings?: Partial<SiteSettings>;
  retention_days?: number | null;
}

/** `GET /api/v1/sites/{id}/snippet`. */
export interface Snippet {
  html: string;
}
