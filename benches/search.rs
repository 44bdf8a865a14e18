//! The session list's search at scale (issue 12, PROTOCOL.md §7): seeds a
//! site with `--sessions` sessions (default 1,000,000) with a spread of
//! signals, track names, error texts, traits and user agents, in bulk SQL
//! on the index's own schema, then times every filter and some
//! combinations for a page of 50 through the `Index` trait, on the first
//! page and on a deep cursor (the middle of the site's history).
//!
//! ```text
//! cargo bench --bench search -- [--url sqlite:///tmp/search.db | postgres://...] \
//!     [--sessions 1000000] [--repeats 7]
//! ```
//!
//! A database that already holds the seeded site is reused (seeding is
//! the slow part). Results: docs/PERFORMANCE.md, "Search".

use std::time::{Duration, Instant};

use reel::index::SqlIndex;
use reel_actors::traits::Scope;
use reel_protocol::api::SessionFilter;

/// Start of the seeded history (ms); sessions start 2 s apart.
const BASE: i64 = 1_700_000_000_000;
const STEP_MS: i64 = 2_000;
/// Sessions a tracker is "connected" to during the bench (the newest).
const LIVE: usize = 500;

struct Args {
    url: String,
    sessions: i64,
    repeats: usize,
}

fn args() -> Args {
    let mut a = Args {
        url: "sqlite:///tmp/reel-search-bench.db".into(),
        sessions: 1_000_000,
        repeats: 7,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--url" => a.url = it.next().expect("--url URL"),
            "--sessions" => {
                a.sessions = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--sessions N")
            }
            "--repeats" => a.repeats = it.next().and_then(|n| n.parse().ok()).expect("--repeats N"),
            _ => {} // `cargo bench` passes `--bench`.
        }
    }
    a
}

/// A pseudo-random number in 0..1_000_003 for row `n`, one stream per `k`
/// (portable integer arithmetic: the same rows on both databases).
fn h(k: usize) -> String {
    const P: [u64; 12] = [
        2_654_435_761,
        40_503,
        2_246_822_519,
        3_266_489_917,
        668_265_263,
        374_761_393,
        1_103_515_245,
        69_069,
        1_664_525,
        22_695_477,
        134_775_813,
        214_013,
    ];
    format!("((n * {}) % 1000003)", P[k])
}

/// `n` from 1 to `count`, as a FROM item.
fn series(postgres: bool, count: i64) -> String {
    if postgres {
        format!("generate_series(CAST(1 AS BIGINT), {count}) AS seq(n)")
    } else {
        format!(
            "(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {count}) SELECT n FROM c) AS seq"
        )
    }
}

fn seed_sql(postgres: bool, site: i64, count: i64) -> Vec<String> {
    let seq = series(postgres, count);
    let pct = |k: usize| format!("({} % 100)", h(k));
    let errors = format!("{} < 15", pct(5));
    let sessions = format!(
        "INSERT INTO sessions (id, site_id, visitor_id, user_id, user_traits, started_at, last_activity_at, \
         ended_at, active_ms, page_loads, first_url, clicks, console_errors, events, browser, os, device, \
         failed_requests, rage_clicks, dead_clicks) \
         SELECT 's' || n, {site}, 'v' || ({h0} % 300000), \
         CASE WHEN {p1} < 30 THEN 'user' || ({h1} % 200000) END, \
         CASE WHEN {p1} < 30 THEN '{{\"plan\":\"' || (CASE {h2} % 10 WHEN 0 THEN 'enterprise' WHEN 1 THEN 'pro' WHEN 2 THEN 'pro' ELSE 'free' END) \
           || '\",\"company\":\"c' || ({h2} % 20000) || '\"}}' ELSE '{{}}' END, \
         {BASE} + n * {STEP_MS}, {BASE} + n * {STEP_MS} + 60000, \
         CASE WHEN n > {open} THEN NULL ELSE {BASE} + n * {STEP_MS} + 60000 END, \
         50000, 1 + {h3} % 5, 'https://shop.example/p/' || ({h3} % 1000), {h4} % 40, \
         CASE WHEN {errors} THEN 1 + {h4} % 4 ELSE 0 END, 100 + {h4} % 900, \
         CASE WHEN {p6} < 62 THEN 'Chrome' WHEN {p6} < 80 THEN 'Safari' WHEN {p6} < 88 THEN 'Edge' \
           WHEN {p6} < 94 THEN 'Firefox' WHEN {p6} < 99 THEN 'Samsung Internet' ELSE 'Opera' END, \
         CASE WHEN {p7} < 40 THEN 'Windows 10' WHEN {p7} < 58 THEN 'Mac OSX' WHEN {p7} < 78 THEN 'Android' \
           WHEN {p7} < 96 THEN 'iPhone' ELSE 'Linux' END, \
         CASE WHEN {p7} < 58 OR {p7} >= 96 THEN 'desktop' WHEN {p7} < 75 THEN 'mobile' WHEN {p7} < 78 THEN 'tablet' ELSE 'mobile' END, \
         CASE WHEN {p8} < 8 THEN 1 + {h8} % 3 ELSE 0 END, \
         CASE WHEN {p9} < 3 THEN 1 + {h9} % 2 ELSE 0 END, \
         CASE WHEN {p10} < 10 THEN 1 + {h10} % 5 ELSE 0 END \
         FROM {seq}",
        open = count - 200,
        h0 = h(0), h1 = h(1), p1 = pct(1), h2 = h(2), h3 = h(3), h4 = h(4),
        p6 = pct(6), p7 = pct(7), h8 = h(8), p8 = pct(8), h9 = h(9), p9 = pct(9), h10 = h(10), p10 = pct(10),
    );
    let mut out = vec![sessions];
    // Track names: per mille of sessions.
    for (i, (name, permille)) in [
        ("add_to_cart", 250),
        ("checkout", 80),
        ("signup", 30),
        ("upgrade", 5),
    ]
    .into_iter()
    .enumerate()
    {
        out.push(format!(
            "INSERT INTO session_track_events (session_id, site_id, name, first_seen_at) \
             SELECT 's' || n, {site}, '{name}', {BASE} + n * {STEP_MS} FROM {seq} WHERE ({} % 1000) < {permille}",
            h(11 - i)
        ));
    }
    // Error texts of the sessions with console errors: one of a few common
    // messages with a varying part, a second one for some, a rare one.
    out.push(format!(
        "INSERT INTO session_error_texts (session_id, site_id, text) \
         SELECT 's' || n, {site}, CASE {h} % 6 \
           WHEN 0 THEN 'TypeError: Cannot read properties of undefined (reading ''price' || ({h} % 300) || ''')' \
           WHEN 1 THEN 'ReferenceError: gtag is not defined' \
           WHEN 2 THEN 'Uncaught (in promise) Error: Request failed with status code 50' || ({h} % 4) \
           WHEN 3 THEN 'TypeError: Failed to fetch' \
           WHEN 4 THEN 'SecurityError: The operation is insecure.' \
           ELSE 'Error: Minified React error #' || ({h} % 500) || '; visit https://react.dev/errors' END \
         FROM {seq} WHERE {errors}",
        h = h(11)
    ));
    out.push(format!(
        "INSERT INTO session_error_texts (session_id, site_id, text) \
         SELECT 's' || n, {site}, 'ChunkLoadError: Loading chunk ' || (n % 50) || ' failed.' \
         FROM {seq} WHERE {errors} AND ({} % 1000) < 20",
        h(10)
    ));
    out
}

fn filter(q: &str) -> SessionFilter {
    let query = format!("{q}&limit=50");
    serde_json::from_value(serde_json::Value::Object(
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                let v = match v {
                    "true" => serde_json::Value::Bool(true),
                    "false" => serde_json::Value::Bool(false),
                    _ => match v.parse::<i64>() {
                        Ok(n) if k == "limit" => n.into(),
                        _ => serde_json::Value::String(v.into()),
                    },
                };
                (k.to_string(), v)
            })
            .collect(),
    ))
    .unwrap()
}

const CASES: &[&str] = &[
    "",
    "has_errors=true",
    "has_failed_requests=true",
    "has_rage_clicks=true",
    "has_dead_clicks=true",
    "has_rage_clicks=false",
    "track=add_to_cart",
    "track=upgrade",
    "track=never_sent",
    "error_contains=typeerror",
    "error_contains=ChunkLoadError",
    "error_contains=no such text",
    "visitor_id=v4242",
    "user_id=user4242",
    "trait=plan:enterprise",
    "trait=company:c4242",
    "trait=plan:none",
    "browser=chrome",
    "browser=opera",
    "browser=lynx",
    "os=linux",
    "device=tablet",
    "live=true",
    "live=false",
    "has_rage_clicks=true&device=mobile",
    "track=checkout&has_failed_requests=true",
    "error_contains=TypeError&browser=safari",
    "trait=plan:pro&has_dead_clicks=true",
    "live=true&has_errors=true",
    "track=upgrade&trait=plan:enterprise&os=windows 10",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args();
    let postgres = reel::index::is_postgres(&a.url);
    let sql = SqlIndex::connect(&a.url).await?;
    sql.migrate().await?;
    let (site, _) = sql.ensure_site("bench", "search").await?;
    let run = |q: String| {
        let sql = &sql;
        async move {
            match sql {
                SqlIndex::Sqlite(i) => sqlx::query(&q)
                    .execute(i.pool())
                    .await
                    .map(|r| r.rows_affected()),
                SqlIndex::Postgres(i) => sqlx::query(&q)
                    .execute(i.pool())
                    .await
                    .map(|r| r.rows_affected()),
            }
        }
    };
    let count_sql = format!("SELECT COUNT(*) FROM sessions WHERE site_id = {site}");
    let have: i64 = match &sql {
        SqlIndex::Sqlite(i) => sqlx::query_scalar(&count_sql).fetch_one(i.pool()).await?,
        SqlIndex::Postgres(i) => sqlx::query_scalar(&count_sql).fetch_one(i.pool()).await?,
    };
    if have != a.sessions {
        anyhow::ensure!(
            have == 0,
            "site holds {have} sessions, not {}: use a fresh database",
            a.sessions
        );
        let t = Instant::now();
        for q in seed_sql(postgres, site, a.sessions) {
            let n = run(q).await?;
            eprintln!("seeded {n} rows ({:.1} s)", t.elapsed().as_secs_f64());
        }
        // What autovacuum does on Postgres after a bulk load; reel never
        // runs ANALYZE on SQLite, so its planner gets no statistics.
        if postgres {
            run("ANALYZE".into()).await?;
        }
        eprintln!(
            "seeded {} sessions in {:.1} s",
            a.sessions,
            t.elapsed().as_secs_f64()
        );
    }
    let org = match &sql {
        SqlIndex::Sqlite(i) => i.org_id("bench").await?,
        SqlIndex::Postgres(i) => i.org_id("bench").await?,
    };
    let index = sql.into_dyn();
    let scope = Scope::org(org);
    let live: Vec<String> = (0..LIVE as i64)
        .map(|i| format!("s{}", a.sessions - i))
        .collect();
    let middle = a.sessions / 2;
    let deep = format!("{}_s{middle}", BASE + middle * STEP_MS);
    println!(
        "| filter | rows (first page) | first page p50 / max (ms) | deep page p50 / max (ms) |"
    );
    println!("|---|---|---|---|");
    for case in CASES {
        let mut cells = Vec::new();
        let mut rows = 0;
        for cursor in [None, Some(deep.clone())] {
            let mut f = filter(case);
            f.cursor = cursor.clone();
            let mut times: Vec<Duration> = Vec::with_capacity(a.repeats);
            for _ in 0..a.repeats {
                let t = Instant::now();
                let page = index.list_sessions(&scope, site, &f, &live).await?;
                times.push(t.elapsed());
                if cursor.is_none() {
                    rows = page.sessions.len();
                }
            }
            times.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            cells.push(format!(
                "{:.1} / {:.1}",
                ms(times[times.len() / 2]),
                ms(times[times.len() - 1])
            ));
        }
        let name = if case.is_empty() { "(none)" } else { case };
        println!("| `{name}` | {rows} | {} | {} |", cells[0], cells[1]);
    }
    Ok(())
}
