//! Feature flags evaluated, in one place (docs/operations.md, "Feature
//! flags"). The flags themselves are defined in
//! [`reel_protocol::flags`]; their rules live in the index
//! ([`FlagStore`]) and a node keeps the last ones it read in a
//! [`FlagRules`]. No I/O here.
//!
//! Of the rules that reach a subject, the site's wins over its
//! organisation's, which wins over the global one; with none, the flag's
//! default. A percentage rule is on for a subject when a bucket of the
//! flag's name and the subject's key (a session id, a user id) is below
//! it: SHA-256 of `name:key`, so every node, every version and every
//! reconnect of a session gives the same answer, and raising the
//! percentage only ever adds subjects.

use std::collections::HashMap;

use async_trait::async_trait;
use reel_protocol::flags::{Flag, FlagRule, FlagRuleRecord, FlagScope, FlagSet};
use sha2::{Digest, Sha256};

use crate::traits::StoreResult;

/// Percentage buckets: a subject falls in one of `0..BUCKETS`.
pub const BUCKETS: u64 = 100;

/// Where flag rules are kept (the index).
#[async_trait]
pub trait FlagStore: Send + Sync + 'static {
    /// Every rule of a flag this version knows; rows of unknown flags (a
    /// newer version's) are left out, not an error. Until the schema has
    /// the table (a node older than `reel migrate`): none.
    async fn flag_rules(&self) -> StoreResult<Vec<FlagRuleRecord>>;
    /// Sets `flag`'s rule in `scope` (replacing one there), stamped `now`.
    async fn set_flag_rule(
        &self,
        flag: Flag,
        scope: FlagScope,
        rule: FlagRule,
        now: i64,
    ) -> StoreResult<()>;
    /// Removes `flag`'s rule in `scope`; false when there was none.
    async fn clear_flag_rule(&self, flag: Flag, scope: FlagScope) -> StoreResult<bool>;
    /// The organisation and site of a session (to evaluate a flag for it
    /// away from its connection: the compactor); `None`: no such session.
    async fn session_owner(&self, session_id: &str) -> StoreResult<Option<(i64, i64)>>;
    /// Does the scope's organisation or site exist? (Global: yes.)
    async fn scope_exists(&self, scope: FlagScope) -> StoreResult<bool>;
}

/// Who a flag is evaluated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    /// The organisation; `None`: no organisation rule applies.
    pub org_id: Option<i64>,
    /// The site; `None`: no site rule applies (the dashboard's user).
    pub site_id: Option<i64>,
    /// What a percentage is stable for: a session id, a user id.
    pub key: &'a str,
}

/// The rules a node knows, by flag and scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagRules {
    rules: HashMap<(Flag, FlagScope), FlagRule>,
}

impl FlagRules {
    /// The rules of `records` (of two for one flag and scope, the last).
    pub fn new(records: impl IntoIterator<Item = FlagRuleRecord>) -> FlagRules {
        FlagRules {
            rules: records
                .into_iter()
                .map(|r| ((r.flag, r.scope), r.rule))
                .collect(),
        }
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule that decides `flag` for `subject`: the site's, else the
    /// organisation's, else the global one; `None`: the default decides.
    pub fn rule_for(&self, flag: Flag, subject: &Subject<'_>) -> Option<FlagRule> {
        let site = subject.site_id.map(FlagScope::Site);
        let org = subject.org_id.map(FlagScope::Org);
        [site, org, Some(FlagScope::Global)]
            .into_iter()
            .flatten()
            .find_map(|scope| self.rules.get(&(flag, scope)).copied())
    }

    /// Is `flag` on for `subject`?
    pub fn is_on(&self, flag: Flag, subject: &Subject<'_>) -> bool {
        match self.rule_for(flag, subject) {
            None => flag.default_on(),
            Some(FlagRule::On) => true,
            Some(FlagRule::Off) => false,
            Some(FlagRule::Percent(p)) => in_rollout(flag, subject.key, p),
        }
    }

    /// Every flag for `subject`, by name: what clients receive.
    pub fn evaluate(&self, subject: &Subject<'_>) -> FlagSet {
        Flag::ALL
            .iter()
            .map(|&f| (f.name().to_owned(), self.is_on(f, subject)))
            .collect()
    }
}

/// The bucket (`0..BUCKETS`) of `key` for `flag`: the first 8 bytes of
/// SHA-256(`name:key`), big-endian, modulo [`BUCKETS`]. Stable across
/// processes, versions and machines (never `std`'s hasher, which is
/// seeded per process); per flag, so two flags at 10 % do not pick the
/// same sessions.
pub fn bucket(flag: Flag, key: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(flag.name().as_bytes());
    h.update(b":");
    h.update(key.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// Is `key` within a `percent` rollout of `flag`? 0: nobody; 100: all.
pub fn in_rollout(flag: Flag, key: &str, percent: u8) -> bool {
    bucket(flag, key) < u64::from(percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(flag: Flag, scope: FlagScope, rule: FlagRule) -> FlagRuleRecord {
        FlagRuleRecord {
            flag,
            scope,
            rule,
            updated_at: 0,
        }
    }

    fn session_ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("s{i:05}")).collect()
    }

    fn subject(key: &str) -> Subject<'_> {
        Subject {
            org_id: Some(1),
            site_id: Some(10),
            key,
        }
    }

    #[test]
    fn a_flag_at_50_percent_is_on_for_about_half_of_10000_sessions_and_stable_for_each() {
        let rules = FlagRules::new([rule(
            Flag::Compaction,
            FlagScope::Global,
            FlagRule::Percent(50),
        )]);
        let ids = session_ids(10_000);
        let first: Vec<bool> = ids
            .iter()
            .map(|id| rules.is_on(Flag::Compaction, &subject(id)))
            .collect();
        let on = first.iter().filter(|&&b| b).count();
        // SHA-256 buckets of 10,000 ids behave as 10,000 fair coin flips:
        // a standard deviation of 50, so 4,800..=5,200 is four of them
        // either way. The count is deterministic (these ids give 5,026, half a deviation above 5,000),
        // so this never flakes; a hash that favoured one side fails it.
        assert_eq!(on, 5_026, "the count of these ids changed: the hash did");
        assert!((4_800..=5_200).contains(&on), "{on} of 10,000 on");
        // The same answer again, and from an evaluator built afresh (as
        // another node or a restarted one would).
        let again = FlagRules::new([rule(
            Flag::Compaction,
            FlagScope::Global,
            FlagRule::Percent(50),
        )]);
        for (id, was) in ids.iter().zip(&first) {
            assert_eq!(rules.is_on(Flag::Compaction, &subject(id)), *was, "{id}");
            assert_eq!(again.is_on(Flag::Compaction, &subject(id)), *was, "{id}");
        }
        // Raising the percentage keeps everyone who was in.
        let more = FlagRules::new([rule(
            Flag::Compaction,
            FlagScope::Global,
            FlagRule::Percent(75),
        )]);
        for (id, was) in ids.iter().zip(&first) {
            if *was {
                assert!(more.is_on(Flag::Compaction, &subject(id)), "{id}");
            }
        }
    }

    #[test]
    fn zero_percent_is_all_off_and_100_percent_all_on() {
        let ids = session_ids(2_000);
        for (p, want) in [(0, false), (100, true)] {
            let rules =
                FlagRules::new([rule(Flag::Notes, FlagScope::Global, FlagRule::Percent(p))]);
            assert!(ids
                .iter()
                .all(|id| rules.is_on(Flag::Notes, &subject(id)) == want));
        }
    }

    #[test]
    fn buckets_are_per_flag() {
        let ids = session_ids(1_000);
        let same = ids
            .iter()
            .filter(|id| bucket(Flag::Notes, id) == bucket(Flag::Compaction, id))
            .count();
        assert!(same < 100, "{same} of 1,000 share a bucket");
    }

    #[test]
    fn site_beats_org_beats_global_beats_default() {
        let f = Flag::CaptureConsole;
        let s = subject("x");
        let mut records = vec![];
        assert!(FlagRules::new(records.clone()).is_on(f, &s), "default on");
        records.push(rule(f, FlagScope::Global, FlagRule::Off));
        assert!(!FlagRules::new(records.clone()).is_on(f, &s));
        records.push(rule(f, FlagScope::Org(1), FlagRule::On));
        assert!(FlagRules::new(records.clone()).is_on(f, &s));
        records.push(rule(f, FlagScope::Site(10), FlagRule::Off));
        let rules = FlagRules::new(records.clone());
        assert!(!rules.is_on(f, &s));
        // Another site of the organisation: the organisation's rule.
        let other_site = Subject {
            site_id: Some(11),
            ..s
        };
        assert!(rules.is_on(f, &other_site));
        // Another organisation: the global rule.
        let other_org = Subject {
            org_id: Some(2),
            site_id: Some(20),
            key: "x",
        };
        assert!(!rules.is_on(f, &other_org));
        // No site (the dashboard): the organisation's.
        let user = Subject { site_id: None, ..s };
        assert!(rules.is_on(f, &user));
        // Other flags are untouched.
        assert!(rules.is_on(Flag::CaptureNetwork, &s));
        let all = rules.evaluate(&s);
        assert_eq!(all.len(), Flag::ALL.len());
        assert!(!all["capture_console"]);
        assert!(all["capture_network"]);
    }
}
