//! The feature flag rules' storage (`FlagStore`), written once and run on
//! SQLite and on Postgres: set, replace, clear, the rows of a newer
//! version's flags ignored, and what the compactor and the CLI look up.

use reel::app::open_index;
use reel::config::Config;
use reel_actors::traits::NewSession;
use reel_protocol::flags::{Flag, FlagRule, FlagScope};

use crate::support::*;

async fn flag_store_contract(storage: TestStorage) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    storage.apply(&mut config);
    let sql = open_index(&config).await.unwrap();
    sql.migrate().await.unwrap();
    let (site, key) = sql.create_site("acme", "shop", &[]).await.unwrap();
    let flags = sql.flags();
    assert!(flags.flag_rules().await.unwrap().is_empty());

    flags
        .set_flag_rule(Flag::Notes, FlagScope::Global, FlagRule::Percent(25), 10)
        .await
        .unwrap();
    flags
        .set_flag_rule(Flag::Notes, FlagScope::Site(site), FlagRule::Off, 11)
        .await
        .unwrap();
    // The same flag and scope again: replaced, not added.
    flags
        .set_flag_rule(Flag::Notes, FlagScope::Site(site), FlagRule::On, 12)
        .await
        .unwrap();
    flags
        .set_flag_rule(Flag::Compaction, FlagScope::Org(7), FlagRule::Off, 13)
        .await
        .unwrap();
    // A row a newer version wrote, and one whose rule this one cannot read.
    assert_eq!(
        storage
            .execute(
                dir.path(),
                "INSERT INTO flag_rules (flag, scope, scope_id, rule, updated_at) \
                 VALUES ('from_the_future', 'global', 0, 'on', 1), ('notes', 'org', 3, 'sometimes', 1)",
            )
            .await,
        2
    );
    let rules = flags.flag_rules().await.unwrap();
    let got: Vec<(Flag, FlagScope, FlagRule, i64)> = rules
        .iter()
        .map(|r| (r.flag, r.scope, r.rule, r.updated_at))
        .collect();
    assert_eq!(
        got,
        [
            (Flag::Compaction, FlagScope::Org(7), FlagRule::Off, 13),
            (Flag::Notes, FlagScope::Global, FlagRule::Percent(25), 10),
            (Flag::Notes, FlagScope::Site(site), FlagRule::On, 12),
        ]
    );

    assert!(flags
        .clear_flag_rule(Flag::Notes, FlagScope::Site(site))
        .await
        .unwrap());
    assert!(!flags
        .clear_flag_rule(Flag::Notes, FlagScope::Site(site))
        .await
        .unwrap());
    assert_eq!(flags.flag_rules().await.unwrap().len(), 2);

    // What the CLI and the compactor look up.
    assert!(flags.scope_exists(FlagScope::Global).await.unwrap());
    assert!(flags.scope_exists(FlagScope::Site(site)).await.unwrap());
    assert!(!flags
        .scope_exists(FlagScope::Site(site + 1000))
        .await
        .unwrap());
    let index = sql.into_dyn();
    let org = index.site_by_key(&key).await.unwrap().unwrap().org_id;
    let sql = open_index(&config).await.unwrap();
    let flags = sql.flags();
    assert!(flags.scope_exists(FlagScope::Org(org)).await.unwrap());
    assert!(!flags
        .scope_exists(FlagScope::Org(org + 1000))
        .await
        .unwrap());
    index
        .open_session(&NewSession {
            id: "s1".into(),
            site_id: site,
            visitor_id: "v".into(),
            started_at: 1,
            ..NewSession::default()
        })
        .await
        .unwrap();
    assert_eq!(flags.session_owner("s1").await.unwrap(), Some((org, site)));
    assert_eq!(flags.session_owner("nope").await.unwrap(), None);
}

#[tokio::test]
async fn flag_store_on_sqlite() {
    flag_store_contract(TestStorage::embedded()).await;
}

#[tokio::test]
async fn flag_store_on_postgres() {
    flag_store_contract(TestStorage::postgres_s3().await).await;
}
