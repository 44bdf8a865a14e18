//! Schema changes without downtime: a node started on the previous schema
//! keeps ingesting while `reel migrate` applies the newer migrations.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use reel::index::SqlIndex;
use tokio::sync::watch;

use crate::downtime::{batch, visitor, wait_ready, ACK_DEADLINE};
use crate::support::*;

/// Rows in the sessions table before the migration, so that building its
/// indexes takes a while.
const EXISTING_SESSIONS: i64 = 300_000;

#[actix_web::test]
async fn reel_migrate_runs_while_a_node_on_the_previous_schema_ingests() {
    init_logs();
    let storage = TestStorage::postgres_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    storage.apply(&mut config);
    config.migrate_on_start = false;
    let url = config.database_url.as_ref().unwrap().expose().to_owned();

    // The previous schema: every migration but the newest ones.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut previous = sqlx::migrate!("./migrations/postgres");
    let all = previous.migrations.len();
    assert!(all >= 2, "there is a newer migration to apply");
    previous.migrations = Cow::Owned(previous.migrations[..1].to_vec());
    previous.run(&pool).await.unwrap();
    let index = SqlIndex::connect(&url).await.unwrap();
    let (site_id, key) = index.create_site("default", "shop", &[]).await.unwrap();
    index.close().await;
    sqlx::query(
        "INSERT INTO sessions (id, site_id, visitor_id, started_at, last_activity_at, first_url, ended_at) \
         SELECT 'old' || g, $1, 'v' || g, g, g, 'https://shop.example/products/' || g, g \
         FROM generate_series(1, $2::bigint) g",
    )
    .bind(site_id)
    .bind(EXISTING_SESSIONS)
    .execute(&pool)
    .await
    .unwrap();

    let node = start_node(config).await;
    let (addr, base) = (node.addr, format!("http://{}", node.addr));
    let url_of = |v: &str| format!("ws://{addr}/v1/ingest?site={key}&visitor={v}");
    let http = reqwest::Client::new();
    let (phase_tx, phase) = watch::channel("before");
    let (stop_tx, stop) = watch::channel(false);
    let mut tabs = Vec::new();
    for i in 0..4 {
        let name = format!("m{i}");
        tabs.push(actix_web::rt::spawn(visitor(
            url_of(&name),
            name,
            phase.clone(),
            stop.clone(),
            u64::MAX,
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // `reel migrate`, as an operator runs it, against the live database.
    phase_tx.send_replace("migrating");
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_reel"))
        .arg("migrate")
        .envs(storage.env())
        .env("REEL_DATA_DIR", dir.path())
        .env("REEL_LOG", "warn")
        .output()
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "reel migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reading needs the accounts of the new schema (API tokens gained an
    // expiry): the token is made once it is there.
    let index = SqlIndex::connect(&url).await.unwrap();
    let token = index
        .create_token("default", "t", "admin", None)
        .await
        .unwrap()
        .1;
    index.close().await;
    let api = Api::new(&base, &token);
    // New sessions start on the new schema too.
    tabs.push(actix_web::rt::spawn(visitor(
        url_of("after"),
        "after".into(),
        phase.clone(),
        stop.clone(),
        u64::MAX,
    )));
    phase_tx.send_replace("after");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send_replace(true);
    let mut recorded = Vec::new();
    for t in tabs {
        recorded.push(t.await.unwrap());
    }

    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, all);
    let valid: Vec<(String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname LIKE '%_trgm' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        valid,
        vec![
            ("session_error_texts_trgm".to_string(), true),
            ("session_pages_url_trgm".to_string(), true),
            ("sessions_first_url_trgm".to_string(), true)
        ]
    );
    let during: Vec<Duration> = recorded
        .iter()
        .flat_map(|r| r.acks.iter())
        .filter(|(p, _)| *p == "migrating")
        .map(|(_, d)| *d)
        .collect();
    let max = during.iter().max().copied().unwrap_or_default();
    println!(
        "reel migrate took {:.0} ms over {EXISTING_SESSIONS} sessions; {} acks meanwhile, max {:.1} ms",
        took.as_secs_f64() * 1e3,
        during.len(),
        max.as_secs_f64() * 1e3
    );
    assert!(
        !during.is_empty(),
        "batches were acked during the migration"
    );
    assert!(
        max < ACK_DEADLINE,
        "an ack took {max:?} during the migration"
    );
    // Every batch is stored, and the URL search the new indexes serve works.
    wait_ready(&http, &base, "storage", |s, v| {
        s == 200 && v["outbox"]["queued"] == 0
    })
    .await;
    assert_eq!(readyz(&http, &base).await.0, 200);
    for r in &recorded {
        let text = api
            .text(&format!("/api/v1/sessions/{}/events?tab=tab", r.session))
            .await;
        let want: Vec<String> = (0..r.batches).flat_map(|s| batch(&r.visitor, s)).collect();
        assert!(text == ndjson(&want), "{} complete", r.visitor);
    }
    let page = api
        .json(&format!(
            "/api/v1/sites/{site_id}/sessions?url=products/1234&limit=500"
        ))
        .await;
    // products/1234, 12340..12349, 123400..123499: 111 sessions.
    assert_eq!(page["sessions"].as_array().unwrap().len(), 111, "{page}");
    node.shutdown().await;
}
