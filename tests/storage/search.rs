//! The session list's filters (PROTOCOL.md §7, "search that finds the
//! customer"), on both index backends: each filter alone, combined, and
//! paged, returns exactly the sessions it should. The signals are written
//! as the session actor's segment commits leave them (columns and the two
//! tables of migration 0008/0012).

use std::collections::BTreeMap;

use reel_actors::traits::Scope;
use reel_protocol::api::{SessionFilter, SessionPage};

use crate::adapters::{backend, new_session, Backend};
use crate::support::*;

/// One seeded session: id, start, browser, os, device, failed requests,
/// rage and dead clicks, track names, error texts, traits.
struct Seed {
    id: &'static str,
    agent: (&'static str, &'static str, &'static str),
    signals: (i64, i64, i64),
    tracks: &'static [&'static str],
    errors: &'static [&'static str],
    traits: &'static [(&'static str, &'static str)],
}

const SEEDS: &[Seed] = &[
    Seed {
        id: "a",
        agent: ("Chrome", "Windows 10", "desktop"),
        signals: (2, 0, 0),
        tracks: &["checkout"],
        errors: &["TypeError: cart is undefined"],
        traits: &[],
    },
    Seed {
        id: "b",
        agent: ("Firefox", "Linux", "desktop"),
        signals: (0, 1, 0),
        tracks: &[],
        errors: &[],
        traits: &[("plan", "pro"), ("company", "Acme: West")],
    },
    Seed {
        id: "c",
        agent: ("Safari", "iPhone", "mobile"),
        signals: (0, 0, 3),
        tracks: &["checkout", "signup"],
        errors: &["NetworkError when fetching", "50% off failed"],
        traits: &[],
    },
    Seed {
        id: "d",
        agent: ("Chrome", "Android", "mobile"),
        signals: (1, 2, 1),
        tracks: &["signup"],
        errors: &["5000 items"],
        traits: &[("plan", "free")],
    },
    Seed {
        id: "e",
        agent: ("UNKNOWN", "UNKNOWN", "unknown"),
        signals: (0, 0, 0),
        tracks: &[],
        errors: &[],
        traits: &[],
    },
];

async fn seed(b: &Backend, site: i64, prefix: &str) {
    let sql = |q: String| async move { b._storage.execute(b._dir.path(), &q).await };
    for (i, s) in SEEDS.iter().enumerate() {
        let id = format!("{prefix}{}", s.id);
        let mut new = new_session(&id, site, 1_000 * (i as i64 + 1), "https://shop.example/");
        (new.browser, new.os, new.device) = (s.agent.0.into(), s.agent.1.into(), s.agent.2.into());
        b.index.open_session(&new).await.unwrap();
        let (failed, rage, dead) = s.signals;
        sql(format!(
            "UPDATE sessions SET failed_requests = {failed}, rage_clicks = {rage}, \
             dead_clicks = {dead} WHERE id = '{id}'"
        ))
        .await;
        for name in s.tracks {
            sql(format!(
                "INSERT INTO session_track_events (session_id, site_id, name, first_seen_at) \
                 VALUES ('{id}', {site}, '{name}', 1)"
            ))
            .await;
        }
        for text in s.errors {
            sql(format!(
                "INSERT INTO session_error_texts (session_id, site_id, text) VALUES ('{id}', {site}, '{text}')"
            ))
            .await;
        }
        if !s.traits.is_empty() {
            let traits: BTreeMap<String, String> = s
                .traits
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            b.index
                .identify(&id, &format!("u-{id}"), &traits, 1)
                .await
                .unwrap();
        }
    }
}

fn ids(page: &SessionPage) -> Vec<&str> {
    page.sessions.iter().map(|s| s.id.as_str()).collect()
}

async fn search(b: &Backend) {
    let (index, site, org) = (&b.index, b.site_id, b.org_id);
    seed(b, site, "").await;
    // The same sessions on another site of the organisation: never listed.
    let other = index.insert_site(org, "other", &[]).await.unwrap();
    seed(b, other.id, "o").await;
    let scope = Scope::org(org);
    let live = ["d".to_string(), "b".to_string(), "oc".to_string()];
    let (scope, live) = (&scope, &live[..]);
    let list =
        |f: SessionFilter| async move { index.list_sessions(scope, site, &f, live).await.unwrap() };
    let f = SessionFilter::default;
    let cases: Vec<(&str, SessionFilter, Vec<&str>)> = vec![
        ("all", f(), vec!["e", "d", "c", "b", "a"]),
        (
            "failed",
            SessionFilter {
                has_failed_requests: Some(true),
                ..f()
            },
            vec!["d", "a"],
        ),
        (
            "no failed",
            SessionFilter {
                has_failed_requests: Some(false),
                ..f()
            },
            vec!["e", "c", "b"],
        ),
        (
            "rage",
            SessionFilter {
                has_rage_clicks: Some(true),
                ..f()
            },
            vec!["d", "b"],
        ),
        (
            "no rage",
            SessionFilter {
                has_rage_clicks: Some(false),
                ..f()
            },
            vec!["e", "c", "a"],
        ),
        (
            "dead",
            SessionFilter {
                has_dead_clicks: Some(true),
                ..f()
            },
            vec!["d", "c"],
        ),
        (
            "no dead",
            SessionFilter {
                has_dead_clicks: Some(false),
                ..f()
            },
            vec!["e", "b", "a"],
        ),
        (
            "track",
            SessionFilter {
                track: Some("checkout".into()),
                ..f()
            },
            vec!["c", "a"],
        ),
        (
            "track is exact",
            SessionFilter {
                track: Some("Checkout".into()),
                ..f()
            },
            vec![],
        ),
        (
            "track unknown",
            SessionFilter {
                track: Some("nope".into()),
                ..f()
            },
            vec![],
        ),
        (
            "error text",
            SessionFilter {
                error_contains: Some("typeerror".into()),
                ..f()
            },
            vec!["a"],
        ),
        (
            "error substring",
            SessionFilter {
                error_contains: Some("ERROR".into()),
                ..f()
            },
            vec!["c", "a"],
        ),
        (
            "error % is literal",
            SessionFilter {
                error_contains: Some("0%".into()),
                ..f()
            },
            vec!["c"],
        ),
        (
            "error _ is literal",
            SessionFilter {
                error_contains: Some("5_0".into()),
                ..f()
            },
            vec![],
        ),
        (
            "visitor",
            SessionFilter {
                visitor_id: Some("v-c".into()),
                ..f()
            },
            vec!["c"],
        ),
        (
            "trait",
            SessionFilter {
                user_trait: Some("plan:pro".into()),
                ..f()
            },
            vec!["b"],
        ),
        (
            "trait value exact",
            SessionFilter {
                user_trait: Some("plan:pr".into()),
                ..f()
            },
            vec![],
        ),
        (
            "trait value with :",
            SessionFilter {
                user_trait: Some("company:Acme: West".into()),
                ..f()
            },
            vec!["b"],
        ),
        (
            "trait other key",
            SessionFilter {
                user_trait: Some("pro:plan".into()),
                ..f()
            },
            vec![],
        ),
        (
            "browser",
            SessionFilter {
                browser: Some("chrome".into()),
                ..f()
            },
            vec!["d", "a"],
        ),
        (
            "os",
            SessionFilter {
                os: Some("WINDOWS 10".into()),
                ..f()
            },
            vec!["a"],
        ),
        (
            "device",
            SessionFilter {
                device: Some("Mobile".into()),
                ..f()
            },
            vec!["d", "c"],
        ),
        (
            "live",
            SessionFilter {
                live: Some(true),
                ..f()
            },
            vec!["d", "b"],
        ),
        (
            "not live",
            SessionFilter {
                live: Some(false),
                ..f()
            },
            vec!["e", "c", "a"],
        ),
        (
            "combined",
            SessionFilter {
                device: Some("mobile".into()),
                has_rage_clicks: Some(true),
                ..f()
            },
            vec!["d"],
        ),
        (
            "combined with a track and an error",
            SessionFilter {
                track: Some("signup".into()),
                error_contains: Some("networkerror".into()),
                browser: Some("Safari".into()),
                ..f()
            },
            vec!["c"],
        ),
        (
            "combined with live and a trait",
            SessionFilter {
                live: Some(true),
                user_trait: Some("plan:free".into()),
                ..f()
            },
            vec!["d"],
        ),
        (
            "combined with the older filters",
            SessionFilter {
                from: Some(2_000),
                user_id: Some("u-d".into()),
                has_dead_clicks: Some(true),
                ..f()
            },
            vec!["d"],
        ),
    ];
    for (what, filter, want) in cases {
        assert_eq!(ids(&list(filter).await), want, "{what}");
    }
    // No live session: `live=true` lists none, `live=false` all.
    let none = index
        .list_sessions(
            scope,
            site,
            &SessionFilter {
                live: Some(true),
                ..f()
            },
            &[],
        )
        .await
        .unwrap();
    assert!(none.sessions.is_empty());
    // Rows leave `live` to the caller (presence).
    assert!(list(f()).await.sessions.iter().all(|s| !s.live));
    // A filtered list pages with its cursor.
    let mut filter = SessionFilter {
        track: Some("checkout".into()),
        limit: Some(1),
        ..f()
    };
    let first = list(filter.clone()).await;
    assert_eq!(ids(&first), ["c"]);
    filter.cursor = first.next_cursor.clone();
    let second = list(filter.clone()).await;
    assert_eq!(ids(&second), ["a"]);
    assert_eq!(second.next_cursor, None);
    let mut filter = SessionFilter {
        live: Some(false),
        limit: Some(2),
        ..f()
    };
    let first = list(filter.clone()).await;
    assert_eq!(ids(&first), ["e", "c"]);
    filter.cursor = first.next_cursor.clone();
    assert_eq!(ids(&list(filter).await), ["a"]);
    // A later identify replaces the traits: the old value no longer
    // matches, the new one does (the index of `trait` follows the row).
    let traits = |plan: &str| BTreeMap::from([("plan".to_string(), plan.to_string())]);
    index.identify("d", "u-d", &traits("pro"), 2).await.unwrap();
    let by_trait = |t: &'static str| SessionFilter {
        user_trait: Some(t.into()),
        ..f()
    };
    assert_eq!(ids(&list(by_trait("plan:free")).await), Vec::<&str>::new());
    assert_eq!(ids(&list(by_trait("plan:pro")).await), ["d", "b"]);
    // An identify replayed late (older) changes nothing.
    index
        .identify("d", "u-d", &traits("free"), 1)
        .await
        .unwrap();
    assert_eq!(ids(&list(by_trait("plan:pro")).await), ["d", "b"]);
    // Purged sessions leave no trait or error text behind to find.
    for id in ["a", "b"] {
        index.purge_session(id).await.unwrap();
    }
    assert_eq!(ids(&list(by_trait("plan:pro")).await), ["d"]);
    let by_error = |t: &'static str| SessionFilter {
        error_contains: Some(t.into()),
        ..f()
    };
    assert_eq!(ids(&list(by_error("typeerror")).await), Vec::<&str>::new());
    assert_eq!(ids(&list(by_error("error")).await), ["c"]);
    let postgres = b._storage.database_url().is_some();
    for table in ["session_error_texts", "session_traits"] {
        if table == "session_traits" && postgres {
            continue; // Postgres reads `user_traits` by its GIN index.
        }
        let sql = format!("DELETE FROM {table} WHERE session_id IN ('a', 'b')");
        assert_eq!(b._storage.execute(b._dir.path(), &sql).await, 0, "{table}");
    }
}

#[tokio::test]
async fn every_filter_on_sqlite() {
    search(&backend(TestStorage::embedded()).await).await;
}

#[tokio::test]
async fn every_filter_on_postgres() {
    search(&backend(TestStorage::postgres_s3().await).await).await;
}

/// SQLite's `0011_search_tables`: before it runs, `trait` and
/// `error_contains` work without its tables; once it runs, its backfill
/// holds the rows written before, and the same index (which probed for the
/// tables and found none) reads them.
#[tokio::test]
async fn sqlite_search_tables_are_backfilled_and_optional() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("index.db").display());
    let sql = reel::index::SqlIndex::connect(&url).await.unwrap();
    let reel::index::SqlIndex::Sqlite(sqlite) = &sql else {
        unreachable!()
    };
    let mut previous = sqlx::migrate!("./migrations/sqlite");
    previous.migrations = std::borrow::Cow::Owned(
        previous
            .migrations
            .iter()
            .filter(|m| m.version < 11)
            .cloned()
            .collect(),
    );
    previous.run(sqlite.pool()).await.unwrap();
    let (site, _) = sql.ensure_site("default", "shop").await.unwrap();
    let org = sqlite.org_id("default").await.unwrap();
    for (i, id) in ["a", "b"].into_iter().enumerate() {
        let s = new_session(id, site, 1_000 * (i as i64 + 1), "https://shop.example/");
        reel_actors::traits::Index::open_session(sqlite, &s)
            .await
            .unwrap();
    }
    let traits = BTreeMap::from([("plan".to_string(), "pro".to_string())]);
    reel_actors::traits::Index::identify(sqlite, "b", "u-b", &traits, 1)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO session_error_texts (session_id, site_id, text) VALUES ('a', $1, 'ChunkLoadError: chunk 7')",
    )
    .bind(site)
    .execute(sqlite.pool())
    .await
    .unwrap();
    let index = sql.into_dyn();
    let scope = Scope::org(org);
    let list = |f: SessionFilter| {
        let (index, scope) = (index.clone(), scope.clone());
        async move { index.list_sessions(&scope, site, &f, &[]).await.unwrap() }
    };
    let by_trait = || SessionFilter {
        user_trait: Some("plan:pro".into()),
        ..SessionFilter::default()
    };
    let by_error = || SessionFilter {
        error_contains: Some("chunkload".into()),
        ..SessionFilter::default()
    };
    assert_eq!(ids(&list(by_trait()).await), ["b"]);
    assert_eq!(ids(&list(by_error()).await), ["a"]);
    // `reel migrate` on another connection, as an operator runs it.
    let migrator = reel::index::SqlIndex::connect(&url).await.unwrap();
    migrator.migrate().await.unwrap();
    migrator.close().await;
    assert_eq!(ids(&list(by_trait()).await), ["b"]);
    assert_eq!(ids(&list(by_error()).await), ["a"]);
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    for (sql, what) in [
        (
            "SELECT COUNT(*) FROM session_traits WHERE session_id = 'b'",
            "b's trait",
        ),
        (
            "SELECT COUNT(*) FROM session_error_fts WHERE session_error_fts MATCH '\"chunkload\"'",
            "a's error text",
        ),
    ] {
        let rows: i64 = sqlx::query_scalar(sql).fetch_one(&db).await.unwrap();
        assert_eq!(rows, 1, "the backfill holds {what}");
    }
}
