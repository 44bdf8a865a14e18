//! TypeScript bindings of the wire and API types, generated from this crate
//! (ts-rs) into `protocol/ts/protocol.ts`, which the tracker and the
//! dashboard import. A test fails when the committed file is stale;
//! `REEL_BLESS=1 cargo test -p reel-protocol bindings` rewrites it.

use ts_rs::TS;

use crate::accounts::{
    AcceptInvitation, AuditAction, AuditEntry, AuditPage, Invitation, InvitationCreated,
    InvitationList, InvitationRequest, LoginRequest, Me, MeUser, Member, MemberList, MemberPatch,
    OrgInfo, Role, TokenCreated, TokenInfo, TokenList, TokenRequest,
};
use crate::api::{SegmentInfo, SessionFilter, SessionInfo, SessionPage, SiteInfo, SiteList};
use crate::error::{ErrorBody, ErrorCode};
use crate::flags::{Flag, FlagInfo, FlagRule, FlagRuleRecord, FlagScope};
use crate::lifecycle::{EraseAccepted, EraseRequest, ErasureReceipt, ErasureState, SiteUsage};
use crate::live::{LiveClientMessage, LiveServerMessage, Presence};
use crate::messages::{ClientMessageWire, Hello, Identify, Page, Screen, ServerMessage};
use crate::notes::{NewNote, Note, NoteList};
use crate::settings::Settings;
use crate::signals::LiveSignals;
use crate::site::{NewSite, SettingsPatch, SitePatch, SiteSnippet};

/// Where the bindings live, relative to this crate.
pub const BINDINGS_PATH: &str = "ts/protocol.ts";

/// The bindings file's text.
pub fn typescript() -> String {
    let decls = [
        Page::decl(),
        Screen::decl(),
        Hello::decl(),
        Identify::decl(),
        ClientMessageWire::decl(),
        Flag::decl(),
        FlagRule::decl(),
        FlagScope::decl(),
        FlagRuleRecord::decl(),
        FlagInfo::decl(),
        Settings::decl(),
        ErrorCode::decl(),
        ErrorBody::decl(),
        ServerMessage::decl(),
        SessionInfo::decl(),
        SegmentInfo::decl(),
        SessionPage::decl(),
        SessionFilter::decl(),
        SiteInfo::decl(),
        SiteList::decl(),
        NewSite::decl(),
        SitePatch::decl(),
        SettingsPatch::decl(),
        SiteSnippet::decl(),
        EraseRequest::decl(),
        EraseAccepted::decl(),
        ErasureState::decl(),
        ErasureReceipt::decl(),
        SiteUsage::decl(),
        LiveSignals::decl(),
        Presence::decl(),
        LiveClientMessage::decl(),
        LiveServerMessage::decl(),
        Role::decl(),
        LoginRequest::decl(),
        MeUser::decl(),
        OrgInfo::decl(),
        Me::decl(),
        Member::decl(),
        MemberList::decl(),
        MemberPatch::decl(),
        InvitationRequest::decl(),
        InvitationCreated::decl(),
        Invitation::decl(),
        InvitationList::decl(),
        AcceptInvitation::decl(),
        TokenRequest::decl(),
        TokenCreated::decl(),
        TokenInfo::decl(),
        TokenList::decl(),
        AuditAction::decl(),
        AuditEntry::decl(),
        AuditPage::decl(),
        NewNote::decl(),
        Note::decl(),
        NoteList::decl(),
    ];
    let mut out = String::from(
        "// Generated from the Rust `reel-protocol` crate (protocol/src/bindings.rs).\n\
         // Do not edit: run `REEL_BLESS=1 cargo test -p reel-protocol bindings`.\n\
         // 64-bit integers are JSON numbers; no value reel sends exceeds 2^53.\n\n",
    );
    for d in decls {
        // JSON carries 64-bit integers as numbers, not bigint.
        out.push_str("export ");
        out.push_str(&d.replace("bigint", "number"));
        out.push_str("\n\n");
    }
    out.push_str(&format!(
        "/** A password has at least this many characters. */\nexport const MIN_PASSWORD_CHARS = {};\n\n",
        crate::accounts::MIN_PASSWORD_CHARS
    ));
    out.push_str(
        "/** Every feature flag: its name, default and description (a missing flag in `Settings.flags` or `Me.flags` takes its default). */\nexport const FLAGS: readonly { name: Flag; default: boolean; description: string }[] = [\n",
    );
    for f in Flag::ALL {
        out.push_str(&format!(
            "  {{ name: {}, default: {}, description: {} }},\n",
            serde_json::to_string(f.name()).unwrap_or_default(),
            f.default_on(),
            serde_json::to_string(f.description()).unwrap_or_default(),
        ));
    }
    out.push_str("];\n\n");
    out.push_str(&format!(
        "/** Largest seq and acked (2^53 - 1). */\nexport const MAX_SEQ = {};\n",
        crate::limits::MAX_SEQ
    ));
    out.push_str(&format!(
        "\n/** Most sessions one page of `GET /api/v1/sites/{{id}}/sessions` holds. */\nexport const MAX_PAGE_SIZE = {};\n",
        crate::api::MAX_PAGE_SIZE
    ));
    out.push_str(&format!(
        "\n/** Sites one live socket may follow at once. */\nexport const SITES_PER_CLIENT = {};\n",
        crate::live::limits::SITES_PER_CLIENT
    ));
    for (name, doc, value) in [
        (
            "SITE_NAME_MAX_BYTES",
            "A site's name, in bytes.",
            crate::site::SITE_NAME_MAX_BYTES as i64,
        ),
        (
            "MAX_ORIGINS",
            "Allowed origins of one site.",
            crate::site::MAX_ORIGINS as i64,
        ),
        (
            "BLOCK_SELECTOR_MAX_BYTES",
            "`settings.block_selector`, in bytes.",
            crate::site::BLOCK_SELECTOR_MAX_BYTES as i64,
        ),
        (
            "MAX_REDACT_PARAMS",
            "Names in `settings.redact_params`.",
            crate::site::MAX_REDACT_PARAMS as i64,
        ),
        (
            "REDACT_PARAM_MAX_BYTES",
            "One name in `settings.redact_params`, in bytes.",
            crate::site::REDACT_PARAM_MAX_BYTES as i64,
        ),
        (
            "MAX_REDACT_PATTERNS",
            "Patterns in `settings.redact_patterns`.",
            crate::site::MAX_REDACT_PATTERNS as i64,
        ),
        (
            "REDACT_PATTERN_MAX_BYTES",
            "One pattern in `settings.redact_patterns`, in bytes.",
            crate::site::REDACT_PATTERN_MAX_BYTES as i64,
        ),
        (
            "MAX_NETWORK_BODY_URLS",
            "Patterns in `settings.network_body_urls`.",
            crate::site::MAX_NETWORK_BODY_URLS as i64,
        ),
        (
            "NETWORK_BODY_URL_MAX_BYTES",
            "One pattern in `settings.network_body_urls`, in bytes.",
            crate::site::NETWORK_BODY_URL_MAX_BYTES as i64,
        ),
        (
            "NETWORK_BODY_MAX_BYTES",
            "A recorded request or response body is cut to this many bytes.",
            crate::settings::NETWORK_BODY_MAX_BYTES as i64,
        ),
        (
            "FAILED_STATUS",
            "A response status at or above this is a failed request (as is a network error).",
            crate::signals::FAILED_STATUS,
        ),
        (
            "MAX_LIVE_TRACK_NAMES",
            "Distinct `reel.track` names a live presence entry carries.",
            crate::signals::MAX_LIVE_TRACK_NAMES as i64,
        ),
        (
            "NOTE_TEXT_MAX_BYTES",
            "A note's text, in bytes after trimming.",
            crate::notes::NOTE_TEXT_MAX_BYTES as i64,
        ),
        (
            "MAX_NOTES_PER_SESSION",
            "Notes one session holds.",
            crate::notes::MAX_NOTES_PER_SESSION as i64,
        ),
        (
            "MAX_NOTE_T_MS",
            "A note's `t`, in ms from the session's start.",
            crate::notes::MAX_NOTE_T_MS,
        ),
        (
            "MIN_RETENTION_DAYS",
            "Fewest days of retention.",
            crate::site::MIN_RETENTION_DAYS,
        ),
        (
            "MAX_RETENTION_DAYS",
            "Most days of retention.",
            crate::site::MAX_RETENTION_DAYS,
        ),
    ] {
        out.push_str(&format!("/** {doc} */\nexport const {name} = {value};\n"));
    }
    out.push_str(&format!(
        "/** Query parameters redacted unless a site sets `redact_params`. */\nexport const DEFAULT_REDACT_PARAMS: readonly string[] = {};\n",
        serde_json::to_string(crate::settings::DEFAULT_REDACT_PARAMS).unwrap_or_default()
    ));
    out.push_str(&format!(
        "/** A network event's `error` when the page itself cancelled the request: not a failed request. */\nexport const ABORTED_ERRORS: readonly string[] = {};\n",
        serde_json::to_string(crate::signals::ABORTED_ERRORS).unwrap_or_default()
    ));
    out.push_str(&format!(
        "/** Tag of the custom event before a full snapshot of the same page again: the Meta after it is not a page load. */\nexport const RESNAPSHOT_TAG = {};\n",
        serde_json::to_string(crate::event::RESNAPSHOT_TAG).unwrap_or_default()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS_PATH);
        let want = typescript();
        if std::env::var("REEL_BLESS").is_ok() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is stale: run `REEL_BLESS=1 cargo test -p reel-protocol bindings`",
            path.display()
        );
    }
}
