// Generated from the Rust `reel-protocol` crate (protocol/src/bindings.rs).
// Do not edit: run `REEL_BLESS=1 cargo test -p reel-protocol bindings`.
// 64-bit integers are JSON numbers; no value reel sends exceeds 2^53.

export type Page = { url: string, referrer: string, title: string, };

export type Screen = { w: number, h: number, };

export type Hello = { v: number, visitor: string, session: string | null, tab: string, 
/**
 * Highest seq of this (session, tab) the client holds an ack for.
 */
acked: number | null, page: Page, screen: Screen, lang: string, tz: string, };

export type Identify = { user_id: string, traits: { [key in string]?: string }, };

export type ClientMessageWire = { "t": "hello" } & Hello | { "t": "events", seq: number, 
/**
 * rrweb events.
 */
events: unknown[], } | { "t": "identify" } & Identify | { "t": "end" };

export type Flag = "capture_console" | "capture_network" | "compaction" | "notes";

export type FlagRule = "on" | "off" | { "percent": number };

export type FlagScope = { "scope": "global" } | { "scope": "org", "id": number } | { "scope": "site", "id": number };

export type FlagRuleRecord = { flag: Flag, rule: FlagRule, 
/**
 * When it was set (ms since the Unix epoch).
 */
updated_at: number, } & ({ "scope": "global" } | { "scope": "org", "id": number } | { "scope": "site", "id": number });

export type FlagInfo = { name: Flag, default: boolean, description: string, rules: Array<FlagRuleRecord>, };

export type Settings = { 
/**
 * Fraction of new sessions to record, 0.0 to 1.0.
 */
sample_rate: number, 
/**
 * Mask the value of every input (privacy by default).
 */
mask_all_inputs: boolean, 
/**
 * Mask emails and long digit runs in page text.
 */
mask_text: boolean, 
/**
 * A CSS selector of elements not recorded at all (an empty box of
 * their size), besides those marked `data-reel-block`; empty: none.
 * At most [`crate::site::BLOCK_SELECTOR_MAX_BYTES`]. A tracker that
 * cannot parse it does not record (privacy first).
 */
block_selector: string, 
/**
 * Send a batch at least this often, in ms.
 */
batch_interval_ms: number, 
/**
 * Send a batch sooner once its JSON reaches this many bytes.
 */
batch_max_bytes: number, 
/**
 * Most events the server accepts in one batch.
 */
batch_max_events: number, 
/**
 * Largest frame the server accepts, in bytes.
 */
max_frame_bytes: number, 
/**
 * The node is in maintenance: do not record.
 */
maintenance: boolean, 
/**
 * Record the page's console (rrweb's console plugin, PROTOCOL.md §7).
 */
capture_console: boolean, 
/**
 * Record the page's fetch, XMLHttpRequest and sendBeacon requests as
 * `reel/network@1` events (PROTOCOL.md §7).
 */
capture_network: boolean, 
/**
 * Record the page's uncaught errors and unhandled promise rejections
 * as custom `error` events (PROTOCOL.md §7).
 */
capture_errors: boolean, 
/**
 * Query parameters (names, compared without regard to case) whose
 * values a recorded request URL shows as `[redacted]`; replaces
 * [`DEFAULT_REDACT_PARAMS`]. At most [`crate::site::MAX_REDACT_PARAMS`]
 * names of [`crate::site::REDACT_PARAM_MAX_BYTES`].
 */
redact_params: Array<string>, 
/**
 * Regular expressions (Rust `regex` syntax) whose matches the node
 * replaces with `[redacted]` in console, network and error events
 * before it stores them (PROTOCOL.md §7), besides its built-in rules.
 * At most [`crate::site::MAX_REDACT_PATTERNS`] patterns of
 * [`crate::site::REDACT_PATTERN_MAX_BYTES`]. The node's own: trackers
 * are sent `[]`.
 */
redact_patterns: Array<string>, 
/**
 * URL patterns (`*` matches any run of characters, matched against
 * the whole URL without its fragment) of requests whose bodies are
 * recorded, each at most [`NETWORK_BODY_MAX_BYTES`]; empty: no body
 * is. At most [`crate::site::MAX_NETWORK_BODY_URLS`] patterns of
 * [`crate::site::NETWORK_BODY_URL_MAX_BYTES`].
 */
network_body_urls: Array<string>, 
/**
 * Do not record a browser that sends Do-Not-Track or Global Privacy
 * Control (PROTOCOL.md §6). The tracker remembers it (and the site's
 * snippet carries it as `data-honor-dnt`), so that such a browser
 * sends nothing, not even `hello`.
 */
honor_dnt: boolean, 
/**
 * Feature flags evaluated for this session (its organisation, site
 * and id; docs/operations.md, "Feature flags"), by flag name. Only in
 * what a node tells a tracker (`welcome`, `settings`): a site's stored
 * settings have none, and then the field is left out. A tracker
 * ignores names it does not know and takes a missing flag's default
 * ([`crate::flags::Flag::default_on`]). `capture_console` and
 * `capture_network` above already have their flags applied.
 */
flags?: { [key in string]?: boolean }, };

export type ErrorCode = "unknown_site" | "origin_not_allowed" | "bad_message" | "idle" | "seq_gap" | "session_over" | "too_large" | "rate_limited" | "unavailable" | "internal" | "unauthenticated" | "bad_credentials" | "conflict" | "invitation_invalid" | "not_found" | "bad_request" | "forbidden";

export type ErrorBody = { error: ErrorCode, message: string, };

export type ServerMessage = { "t": "welcome", session: string, tab: string, 
/**
 * First batch of this (session, tab) not yet durable.
 */
next_seq: number, settings: Settings, } | { "t": "ack", seq: number, } | { "t": "snapshot" } | { "t": "settings" } & Settings | { "t": "goaway", retry_after_ms: number, } | { "t": "error", code: ErrorCode, message: string, };

export type SessionInfo = { id: string, site_id: number, visitor_id: string, user_id: string | null, user_traits: { [key in string]?: string }, 
/**
 * Milliseconds since the Unix epoch.
 */
started_at: number, last_activity_at: number, ended_at: number | null, duration_ms: number, active_ms: number, page_loads: number, first_url: string, urls: Array<string>, referrer: string, clicks: number, keypresses: number, console_errors: number, 
/**
 * Requests that failed: status >= 500 or a network error (§7).
 */
failed_requests: number, 
/**
 * 3 or more clicks within 1 s within 30 px, each run counted once.
 */
rage_clicks: number, 
/**
 * Clicks followed by no mutation, navigation or request within 1 s.
 */
dead_clicks: number, 
/**
 * Distinct `reel.track` names, in first-seen order.
 */
track_events: Array<string>, events: number, raw_bytes: number, stored_bytes: number, segments: number, tabs: Array<string>, browser: string, os: string, device: string, screen_w: number, screen_h: number, lang: string, tz: string, 
/**
 * The session has not ended: more segments may come.
 */
live: boolean, 
/**
 * Writes of this session (segments, its end) are waiting on the
 * answering node for storage that is down: the replay is not complete
 * yet, and what is missing arrives once storage is back.
 */
writing: boolean, 
/**
 * Kept past its site's retention (PROTOCOL.md §6).
 */
pinned: boolean, };

export type SegmentInfo = { tab: string, first_seq: number, last_seq: number, 
/**
 * First and last event timestamps (ms).
 */
first_ts: number, last_ts: number, event_count: number, 
/**
 * Compressed size.
 */
stored_bytes: number, 
/**
 * The object's key in the blob store: zstd-compressed NDJSON.
 */
key: string, 
/**
 * Where each batch ends in the decompressed object, in bytes: entry
 * `i` ends batch `first_seq + i`. To skip batches up to seq `n`
 * (`first_seq <= n < last_seq`), start at `batch_ends[n - first_seq]`.
 * `null` for segments stored before reel recorded them: read those
 * whole, or skip them when every seq they hold was read.
 */
batch_ends: Array<number> | null, 
/**
 * A presigned URL to GET the object straight from S3 (or a CDN in
 * front of it), when the node is configured to sign them.
 */
url: string | null, };

export type SessionPage = { sessions: Array<SessionInfo>, 
/**
 * Pass as `cursor` to get the next page; `null` on the last page.
 */
next_cursor: string | null, };

export type SessionFilter = { 
/**
 * Sessions that started at or after this (ms).
 */
from: number | null, 
/**
 * Sessions that started before this (ms).
 */
to: number | null, min_duration_ms: number | null, 
/**
 * A URL the session visited contains this.
 */
url: string | null, user_id: string | null, has_errors: boolean | null, has_failed_requests: boolean | null, has_rage_clicks: boolean | null, has_dead_clicks: boolean | null, 
/**
 * A `reel.track` name the session sent (exact).
 */
track: string | null, 
/**
 * A console error or error event's text contains this.
 */
error_contains: string | null, visitor_id: string | null, 
/**
 * `KEY:VALUE`: the user's trait KEY is exactly VALUE.
 */
trait: string | null, browser: string | null, os: string | null, 
/**
 * `desktop`, `mobile`, `tablet` or `unknown`.
 */
device: string | null, 
/**
 * `true`: a tracker is connected now (presence), `false`: none is.
 */
live: boolean | null, 
/**
 * 1 to [`MAX_PAGE_SIZE`], default [`DEFAULT_PAGE_SIZE`].
 */
limit: number | null, cursor: string | null, };

export type SiteInfo = { id: number, name: string, 
/**
 * The public key trackers connect with.
 */
site_key: string, 
/**
 * Empty: any origin.
 */
allowed_origins: Array<string>, 
/**
 * What its trackers are told in `welcome` and `settings` (the node
 * adds its own batch and frame bounds).
 */
settings: Settings, 
/**
 * Days its recordings are kept.
 */
retention_days: number, };

export type SiteList = { sites: Array<SiteInfo>, };

export type NewSite = { name: string, 
/**
 * `scheme://host[:port]` each (http or https); empty or absent: any origin.
 */
origins: Array<string>, };

export type SitePatch = { name?: string, 
/**
 * Replaces the list; `[]`: any origin.
 */
origins?: Array<string>, settings?: SettingsPatch, retention_days?: number, };

export type SettingsPatch = { 
/**
 * 0.0 to 1.0.
 */
sample_rate?: number, mask_all_inputs?: boolean, mask_text?: boolean, 
/**
 * A CSS selector; empty: none.
 */
block_selector?: string, capture_console?: boolean, capture_network?: boolean, capture_errors?: boolean, 
/**
 * Replaces the list (names are trimmed; duplicates, compared without
 * regard to case, are dropped).
 */
redact_params?: Array<string>, 
/**
 * Replaces the list of regular expressions the node redacts
 * (duplicates are dropped; each is checked with [`redact_pattern`]).
 */
redact_patterns?: Array<string>, 
/**
 * Replaces the list; `[]`: no body is recorded.
 */
network_body_urls?: Array<string>, 
/**
 * Leave browsers with Do-Not-Track or Global Privacy Control unrecorded.
 */
honor_dnt?: boolean, };

export type SiteSnippet = { 
/**
 * The `<script>` tag to paste into the site's pages.
 */
html: string, };

export type EraseRequest = { user_id?: string, visitor_id?: string, };

export type EraseAccepted = { id: string, };

export type ErasureState = "pending" | "done";

export type ErasureReceipt = { state: ErasureState, 
/**
 * Sessions deleted so far.
 */
sessions: number, 
/**
 * Blob objects deleted so far.
 */
objects: number, 
/**
 * When it finished (ms since the Unix epoch); `null` while pending.
 */
finished_at: number | null, };

export type SiteUsage = { sessions: number, raw_bytes: number, stored_bytes: number, 
/**
 * The oldest recording's start (ms); `null` when there is none.
 */
oldest_started_at: number | null, };

export type LiveSignals = { console_errors: number, failed_requests: number, rage_clicks: number, dead_clicks: number, 
/**
 * The session's distinct `reel.track` names in first-seen order, at
 * most [`MAX_LIVE_TRACK_NAMES`]. Absent (empty) from nodes older
 * than this field.
 */
track_events?: Array<string>, };

export type Presence = { session: string, visitor: string, user_id: string | null, 
/**
 * The visitor's current page.
 */
url: string, title: string, 
/**
 * `desktop`, `mobile`, `tablet` or `unknown`.
 */
device: string, 
/**
 * The browser's name as the `User-Agent` says (`Chrome`, `Firefox`,
 * `Safari`, ...; `UNKNOWN` when it says nothing known). Absent (empty)
 * from nodes older than this field.
 */
browser: string, 
/**
 * The operating system as the `User-Agent` says (`Windows 10`,
 * `Mac OSX`, `Linux`, `Android`, `iPhone`, ...; `UNKNOWN` likewise).
 */
os: string, 
/**
 * ms since the epoch.
 */
started_at: number, last_activity_at: number, 
/**
 * The node the session is recorded on.
 */
node: string, 
/**
 * What went wrong for the visitor so far (§7), so the live list can
 * flag it while it happens.
 */
signals: LiveSignals, };

export type LiveClientMessage = { "t": "presence", site: number, } | { "t": "watch", session: string, } | { "t": "unwatch", session: string, };

export type LiveServerMessage = { "t": "presence_snapshot", site: number, sessions: Array<Presence>, } | { "t": "presence_join", site: number, session: Presence, } | { "t": "presence_update", site: number, session: Presence, } | { "t": "presence_leave", site: number, session: string, } | { "t": "events", session: string, tab: string, 
/**
 * rrweb events, as the tracker sent them.
 */
events: unknown[], } | { "t": "watch_ended", session: string, reason: string, } | { "t": "error", code: string, message: string, };

export type Role = "viewer" | "member" | "admin" | "owner";

export type LoginRequest = { email: string, password: string, };

export type MeUser = { id: number, email: string, name: string, };

export type OrgInfo = { id: number, name: string, };

export type Me = { user: MeUser | null, org: OrgInfo, role: Role, 
/**
 * The sites the caller is limited to; `null`: all of the organisation's.
 */
sites: Array<number> | null, 
/**
 * Feature flags evaluated for the caller (docs/operations.md,
 * "Feature flags"): its organisation's rules and the global ones, a
 * percentage rollout keyed by the user's id (a token's: `token:ID`).
 * By flag name; a name the dashboard does not know is ignored, a
 * missing flag takes its default.
 */
flags?: { [key in string]?: boolean }, };

export type Member = { user_id: number, email: string, name: string, role: Role, 
/**
 * `null`: all sites.
 */
sites: Array<number> | null, 
/**
 * When the membership began (ms).
 */
created_at: number, };

export type MemberList = { members: Array<Member>, };

export type MemberPatch = { role?: Role, 
/**
 * Absent: unchanged; `null`: all sites; a list: only those.
 */
sites?: number[] | null, };

export type InvitationRequest = { email: string, role: Role, 
/**
 * `null` or absent: all sites.
 */
sites: Array<number> | null, };

export type InvitationCreated = { id: number, url: string, };

export type Invitation = { id: number, email: string, role: Role, sites: Array<number> | null, created_at: number, expires_at: number, used_at: number | null, revoked_at: number | null, };

export type InvitationList = { invitations: Array<Invitation>, };

export type AcceptInvitation = { name: string, password: string, };

export type TokenRequest = { name: string, role: Role, 
/**
 * 1 to [`MAX_TOKEN_DAYS`]; `null` or absent: never expires.
 */
expires_in_days: number | null, };

export type TokenCreated = { id: number, token: string, };

export type TokenInfo = { id: number, name: string, role: Role, created_at: number, expires_at: number | null, revoked_at: number | null, };

export type TokenList = { tokens: Array<TokenInfo>, };

export type AuditAction = "login" | "login_failed" | "replay_viewed" | "live_watched" | "member_changed" | "token_created" | "token_revoked" | "invitation_created" | "invitation_revoked" | "site_changed" | "session_deleted" | "erased" | "note_added";

export type AuditEntry = { 
/**
 * When (ms since the Unix epoch).
 */
at: number, 
/**
 * Who: a person's email, or `token:NAME`.
 */
actor: string, 
/**
 * The client address of the request (behind a trusted proxy, the
 * address it forwarded; see `docs/operations.md`).
 */
ip: string, 
/**
 * An [`AuditAction`]'s name.
 */
action: string, 
/**
 * What it was done to: `session:ID`, `user:ID`, `token:ID`, ...
 */
target: string, };

export type AuditPage = { entries: Array<AuditEntry>, 
/**
 * Pass as `cursor` for older entries; `null` on the last page.
 */
next_cursor: string | null, };

export type NewNote = { 
/**
 * The moment the note is about: ms from the session's `started_at`,
 * the unit of the replay link `#/sessions/{id}?t=MS`.
 */
t: number, text: string, };

export type Note = { 
/**
 * 1, 2, 3, ... within its session, in the order notes were added.
 */
id: number, session_id: string, 
/**
 * ms from the session's `started_at`.
 */
t: number, text: string, 
/**
 * Who wrote it: a person's email, or `token:NAME` (as the audit log
 * names callers).
 */
author: string, 
/**
 * When it was written (ms since the Unix epoch).
 */
created_at: number, };

export type NoteList = { notes: Array<Note>, };

/** A password has at least this many characters. */
export const MIN_PASSWORD_CHARS = 10;

/** Every feature flag: its name, default and description (a missing flag in `Settings.flags` or `Me.flags` takes its default). */
export const FLAGS: readonly { name: Flag; default: boolean; description: string }[] = [
  { name: "capture_console", default: true, description: "trackers record the console (where the site's capture_console is on too)" },
  { name: "capture_network", default: true, description: "trackers record network requests (where the site's capture_network is on too)" },
  { name: "compaction", default: true, description: "the cold compactor compacts the session's segments" },
  { name: "notes", default: true, description: "the dashboard shows notes on replays" },
];

/** Largest seq and acked (2^53 - 1). */
export const MAX_SEQ = 9007199254740991;

/** Most sessions one page of `GET /api/v1/sites/{id}/sessions` holds. */
export const MAX_PAGE_SIZE = 500;

/** Sites one live socket may follow at once. */
export const SITES_PER_CLIENT = 16;
/** A site's name, in bytes. */
export const SITE_NAME_MAX_BYTES = 128;
/** Allowed origins of one site. */
export const MAX_ORIGINS = 32;
/** `settings.block_selector`, in bytes. */
export const BLOCK_SELECTOR_MAX_BYTES = 1024;
/** Names in `settings.redact_params`. */
export const MAX_REDACT_PARAMS = 50;
/** One name in `settings.redact_params`, in bytes. */
export const REDACT_PARAM_MAX_BYTES = 64;
/** Patterns in `settings.redact_patterns`. */
export const MAX_REDACT_PATTERNS = 20;
/** One pattern in `settings.redact_patterns`, in bytes. */
export const REDACT_PATTERN_MAX_BYTES = 256;
/** Patterns in `settings.network_body_urls`. */
export const MAX_NETWORK_BODY_URLS = 20;
/** One pattern in `settings.network_body_urls`, in bytes. */
export const NETWORK_BODY_URL_MAX_BYTES = 512;
/** A recorded request or response body is cut to this many bytes. */
export const NETWORK_BODY_MAX_BYTES = 16384;
/** A response status at or above this is a failed request (as is a network error). */
export const FAILED_STATUS = 500;
/** Distinct `reel.track` names a live presence entry carries. */
export const MAX_LIVE_TRACK_NAMES = 20;
/** A note's text, in bytes after trimming. */
export const NOTE_TEXT_MAX_BYTES = 2000;
/** Notes one session holds. */
export const MAX_NOTES_PER_SESSION = 200;
/** A note's `t`, in ms from the session's start. */
export const MAX_NOTE_T_MS = 604800000;
/** Fewest days of retention. */
export const MIN_RETENTION_DAYS = 1;
/** Most days of retention. */
export const MAX_RETENTION_DAYS = 3650;
/** Query parameters redacted unless a site sets `redact_params`. */
export const DEFAULT_REDACT_PARAMS: readonly string[] = ["token","access_token","refresh_token","id_token","password","secret","client_secret","key","api_key","apikey","auth","authorization","session","sessionid","code","signature","sig"];
/** A network event's `error` when the page itself cancelled the request: not a failed request. */
export const ABORTED_ERRORS: readonly string[] = ["aborted","abort"];
/** Tag of the custom event before a full snapshot of the same page again: the Meta after it is not a page load. */
export const RESNAPSHOT_TAG = "reel/resnapshot";
