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
export { MAX_PAGE_SIZE, SITES_PER_CLIENT } from '../../protocol/ts/protocol';

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

// Accounts and access (PROTOCOL.md §5). The shapes of the `protocol`
// crate's `accounts` module (branch `accounts`), written here until its
// generated bindings land; then these become re-exports like the ones above.

/** A membership's role, each including the rights of those after it. */
export type Role = 'owner' | 'admin' | 'member' | 'viewer';

/** `GET /api/v1/me`. `user` null for an API token; `sites` null: every site of the organisation. */
export interface Me {
  user: { id: number; email: string; name: string } | null;
  org: { id: number; name: string };
  role: Role;
  sites: number[] | null;
}

/** One person of the organisation (`GET /api/v1/members`). */
export interface Member {
  user_id: number;
  email: string;
  name: string;
  role: Role;
  sites: number[] | null;
  /** When the membership began (ms since the epoch). */
  created_at: number;
}

export interface MemberList {
  members: Member[];
}

/** `POST /api/v1/invitations` answers the link to send. */
export interface InvitationCreated {
  id: number;
  url: string;
}

/** An invitation (`GET /api/v1/invitations`); times in ms since the epoch. */
export interface Invitation {
  id: number;
  email: string;
  role: Role;
  sites: number[] | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
}

export interface InvitationList {
  invitations: Invitation[];
}

/** `POST /api/v1/tokens`: the token, shown this once. */
export interface TokenCreated {
  id: number;
  token: string;
}

/** An API token as listed (never the token itself). */
export interface TokenInfo {
  id: number;
  name: string;
  role: Role;
  created_at: number;
  /** null: never expires. */
  expires_at: number | null;
  revoked_at: number | null;
}

export interface TokenList {
  tokens: TokenInfo[];
}

/** One line of the audit log; `at` in ms since the epoch. */
export interface AuditEntry {
  at: number;
  actor: string;
  ip: string;
  action: string;
  target: string;
}

export interface AuditPage {
  entries: AuditEntry[];
  next_cursor: string | null;
}

/** The tracker settings an admin edits per site (`PATCH /api/v1/sites/{id}` `settings`). */
export interface SiteSettings {
  /** Fraction of new sessions to record, 0 to 1. */
  sample_rate: number;
  mask_all_inputs: boolean;
  mask_text: boolean;
  /** Elements matching this CSS selector are not recorded ('' none). */
  block_selector: string;
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
