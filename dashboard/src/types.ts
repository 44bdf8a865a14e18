// The server's API types, generated from the Rust `protocol` crate. Re-exported
// here so the rest of the dashboard has one import path; never redefined.
export type {
  AuditEntry,
  AuditPage,
  EraseAccepted,
  EraseRequest,
  ErasureReceipt,
  ErrorBody,
  Invitation,
  InvitationCreated,
  InvitationList,
  Me,
  Member,
  MemberList,
  Role,
  TokenCreated,
  TokenInfo,
  TokenList,
  LiveClientMessage,
  LiveServerMessage,
  Presence,
  SessionFilter,
  SessionInfo,
  SessionPage,
  SiteInfo,
  SiteList,
  SiteUsage,
} from '../../protocol/ts/protocol';
export { MAX_PAGE_SIZE, MIN_PASSWORD_CHARS, SITES_PER_CLIENT } from '../../protocol/ts/protocol';

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

/** The tracker settings an admin edits per site (`PATCH /api/v1/sites/{id}` `settings`). */
export interface SiteSettings {
  /** Fraction of new sessions to record, 0 to 1. */
  sample_rate: number;
  mask_all_inputs: boolean;
  mask_text: boolean;
  /** Elements matching this CSS selector are not recorded ('' none). */
  block_selector: string;
  /** Browsers sending Do-Not-Track or Global Privacy Control are not recorded. */
  honor_dnt: boolean;
}

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
