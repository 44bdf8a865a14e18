//! Feature flags (docs/operations.md, "Feature flags"): the one definition
//! of every flag (its wire name, default and description) and the wire
//! shapes of their rules. The node evaluates them
//! (`reel_actors::flags`) and delivers the result as a map of flag name
//! to `bool`: to trackers in `Settings::flags` (`welcome` and
//! `settings`), to the dashboard in `Me::flags` (`GET /api/v1/me`).
//! A client ignores names it does not know (a newer node's flags), and a
//! flag it expects but does not find takes its default.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Every flag reel knows. Appending one is a compatible change; its wire
/// name (`snake_case`) never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Trackers record the page's console (with the site's
    /// `capture_console`).
    CaptureConsole,
    /// Trackers record the page's network requests (with the site's
    /// `capture_network`).
    CaptureNetwork,
    /// The cold compactor compacts the session's segments.
    Compaction,
    /// The dashboard shows notes on a replay's timeline and side panel.
    Notes,
}

impl Flag {
    /// Every flag, in the order `reel flag list` shows them.
    pub const ALL: &'static [Flag] = &[
        Flag::CaptureConsole,
        Flag::CaptureNetwork,
        Flag::Compaction,
        Flag::Notes,
    ];

    /// The wire and storage name.
    pub fn name(self) -> &'static str {
        match self {
            Flag::CaptureConsole => "capture_console",
            Flag::CaptureNetwork => "capture_network",
            Flag::Compaction => "compaction",
            Flag::Notes => "notes",
        }
    }

    /// Whether the flag is on where no rule says otherwise.
    pub fn default_on(self) -> bool {
        match self {
            Flag::CaptureConsole | Flag::CaptureNetwork | Flag::Compaction | Flag::Notes => true,
        }
    }

    /// One line on what the flag switches.
    pub fn description(self) -> &'static str {
        match self {
            Flag::CaptureConsole => {
                "trackers record the console (where the site's capture_console is on too)"
            }
            Flag::CaptureNetwork => {
                "trackers record network requests (where the site's capture_network is on too)"
            }
            Flag::Compaction => "the cold compactor compacts the session's segments",
            Flag::Notes => "the dashboard shows notes on replays",
        }
    }

    /// The flag named `name`; `None` for a name this version does not know.
    pub fn parse(name: &str) -> Option<Flag> {
        Flag::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The known names, comma-separated (for error messages).
    pub fn known_names() -> String {
        Flag::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Highest rollout percentage.
pub const MAX_PERCENT: u8 = 100;

/// What a rule sets a flag to: `"on"`, `"off"`, or `{"percent":N}` (on for
/// N % of sessions, N in 0..=[`MAX_PERCENT`], stable per session id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum FlagRule {
    On,
    Off,
    Percent(u8),
}

/// A rule that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a flag rule: expected on, off or a percentage from 0 to 100 (like 25 or 25%)"
)]
pub struct BadRule(pub String);

impl FlagRule {
    /// Parses `on`, `off`, `N` or `N%` (N an integer in 0..=100).
    pub fn parse(text: &str) -> Result<FlagRule, BadRule> {
        let t = text.trim();
        match t {
            "on" => return Ok(FlagRule::On),
            "off" => return Ok(FlagRule::Off),
            _ => {}
        }
        let digits = t.strip_suffix('%').unwrap_or(t);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 3 {
            return Err(BadRule(text.to_owned()));
        }
        match digits.parse::<u8>() {
            Ok(p) if p <= MAX_PERCENT => Ok(FlagRule::Percent(p)),
            _ => Err(BadRule(text.to_owned())),
        }
    }

    /// The stored form: `on`, `off` or `N%` (what [`FlagRule::parse`] reads).
    pub fn as_text(self) -> String {
        match self {
            FlagRule::On => "on".to_owned(),
            FlagRule::Off => "off".to_owned(),
            FlagRule::Percent(p) => format!("{p}%"),
        }
    }
}

/// Where a rule applies. Of the rules that reach a subject, the site's
/// wins over the organisation's, which wins over the global one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case", tag = "scope", content = "id")]
pub enum FlagScope {
    /// Every organisation and site (the operator's setting).
    Global,
    /// One organisation, by id.
    Org(i64),
    /// One site, by id.
    Site(i64),
}

impl FlagScope {
    /// The stored scope name: `global`, `org` or `site`.
    pub fn kind(self) -> &'static str {
        match self {
            FlagScope::Global => "global",
            FlagScope::Org(_) => "org",
            FlagScope::Site(_) => "site",
        }
    }

    /// The stored scope id (0 for global).
    pub fn id(self) -> i64 {
        match self {
            FlagScope::Global => 0,
            FlagScope::Org(id) | FlagScope::Site(id) => id,
        }
    }

    /// The scope stored as `kind` and `id`; `None` for an unknown kind.
    pub fn from_parts(kind: &str, id: i64) -> Option<FlagScope> {
        match kind {
            "global" => Some(FlagScope::Global),
            "org" => Some(FlagScope::Org(id)),
            "site" => Some(FlagScope::Site(id)),
            _ => None,
        }
    }
}

/// One stored rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FlagRuleRecord {
    pub flag: Flag,
    #[serde(flatten)]
    pub scope: FlagScope,
    pub rule: FlagRule,
    /// When it was set (ms since the Unix epoch).
    pub updated_at: i64,
}

impl FlagRuleRecord {
    /// A row as the index stores it (`flag`, `scope`, `scope_id`, `rule`);
    /// `None` when this version does not know the flag or cannot read the
    /// scope or rule (written by a newer version): ignored, not an error.
    pub fn from_row(
        flag: &str,
        scope: &str,
        scope_id: i64,
        rule: &str,
        updated_at: i64,
    ) -> Option<FlagRuleRecord> {
        Some(FlagRuleRecord {
            flag: Flag::parse(flag)?,
            scope: FlagScope::from_parts(scope, scope_id)?,
            rule: FlagRule::parse(rule).ok()?,
            updated_at,
        })
    }
}

/// One flag as `reel flag list` prints it: its definition and its rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct FlagInfo {
    pub name: Flag,
    pub default: bool,
    pub description: String,
    pub rules: Vec<FlagRuleRecord>,
}

/// Evaluated flags as clients receive them: every flag this node knows,
/// by wire name.
pub type FlagSet = BTreeMap<String, bool>;

/// Every flag at its default (what a node tells when it knows no rule).
pub fn defaults() -> FlagSet {
    Flag::ALL
        .iter()
        .map(|f| (f.name().to_owned(), f.default_on()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for f in Flag::ALL {
            assert_eq!(Flag::parse(f.name()), Some(*f));
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::json!(f.name())
            );
            assert!(!f.description().is_empty());
        }
        assert_eq!(Flag::parse("nope"), None);
    }

    #[test]
    fn rules_parse_on_off_and_percentages_only() {
        assert_eq!(FlagRule::parse("on"), Ok(FlagRule::On));
        assert_eq!(FlagRule::parse("off"), Ok(FlagRule::Off));
        assert_eq!(FlagRule::parse("25"), Ok(FlagRule::Percent(25)));
        assert_eq!(FlagRule::parse("25%"), Ok(FlagRule::Percent(25)));
        assert_eq!(FlagRule::parse("0"), Ok(FlagRule::Percent(0)));
        assert_eq!(FlagRule::parse("100%"), Ok(FlagRule::Percent(100)));
        for bad in [
            "101", "-1", "abc", "", "%", "2.5", "1000", "25%%", "+5", "On",
        ] {
            assert!(FlagRule::parse(bad).is_err(), "{bad}");
        }
        for r in [FlagRule::On, FlagRule::Off, FlagRule::Percent(7)] {
            assert_eq!(FlagRule::parse(&r.as_text()), Ok(r));
        }
    }

    #[test]
    fn rows_of_unknown_flags_scopes_or_rules_are_ignored() {
        assert!(FlagRuleRecord::from_row("from_the_future", "global", 0, "on", 1).is_none());
        assert!(FlagRuleRecord::from_row("notes", "team", 3, "on", 1).is_none());
        assert!(FlagRuleRecord::from_row("notes", "site", 3, "sometimes", 1).is_none());
        let r = FlagRuleRecord::from_row("notes", "site", 3, "40%", 9).unwrap();
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            serde_json::json!({"flag":"notes","scope":"site","id":3,"rule":{"percent":40},"updated_at":9})
        );
    }
}
