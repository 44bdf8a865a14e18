//! Feature flags across nodes: two `reel serve` processes on shared
//! Postgres and S3 and a Redis of the test's own; the operator's CLI, with
//! no node involved, changes a flag; trackers connected to either node
//! get it as `settings` within 5 s. Once with no bus to hint (the nodes'
//! polls of the index carry it), once with the CLI's hint on Redis.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// How soon every node follows a change (docs/operations.md).
const FOLLOW: Duration = Duration::from_secs(5);

/// `reel ARGS` on `storage` from a directory of its own (no node's), with
/// `env`; its JSON output.
fn operator(dir: &Path, storage: &TestStorage, env: &[(&str, &str)], args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(args)
        .envs(storage.env())
        .envs(env.iter().copied())
        .env("REEL_DATA_DIR", dir)
        .env("REEL_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reel {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A tracker of a new session on `node`; the tracker and its welcome.
async fn open(node: &Proc, key: &str, visitor: &str) -> (Tracker, Value) {
    let mut t = Tracker::connect(&node.ingest_url(key, visitor), None)
        .await
        .unwrap();
    let w = t.hello(visitor, None, "tab", None).await;
    (t, w)
}

#[tokio::test]
async fn a_flag_set_with_the_cli_reaches_trackers_on_every_node_within_5_s() {
    init_logs();
    let storage = TestStorage::postgres_s3().await;
    let redis = OwnRedis::start_on(free_port());
    let cli_dir = tempfile::tempdir().unwrap();
    let (site, token) = cli_site_and_token(cli_dir.path(), &storage, "flags");
    let key = site["site_key"].as_str().unwrap().to_string();
    let site_id = site["site_id"].to_string();
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Proc> = ["node-a", "node-b"]
        .iter()
        .zip(&dirs)
        .map(|(id, dir)| {
            Proc::serve(dir.path(), &storage)
                .env("REEL_NODE_ID", id)
                .env("REEL_REDIS_URL", redis.url())
                .start()
        })
        .collect();
    let (mut on_b, w) = open(&nodes[1], &key, "vb").await;
    assert_eq!(w["settings"]["capture_console"], true, "{w}");
    let (mut on_a, _) = open(&nodes[0], &key, "va").await;

    // No bus to hint: the nodes' polls of the index carry the change.
    operator(
        cli_dir.path(),
        &storage,
        &[],
        &["flag", "set", "capture_console", "--site", &site_id, "off"],
    );
    let set_at = Instant::now();
    for t in [&mut on_b, &mut on_a] {
        let m = settings_within(t, set_at, FOLLOW).await;
        assert_eq!(m["capture_console"], false, "{m}");
        assert_eq!(m["flags"]["capture_console"], false, "{m}");
    }
    eprintln!("both nodes followed the poll in {:?}", set_at.elapsed());

    // With the CLI's hint on Redis, an organisation's override.
    let org = Api::new(nodes[0].base(), &token).json("/api/v1/me").await["org"]["id"].to_string();
    operator(
        cli_dir.path(),
        &storage,
        &[("REEL_REDIS_URL", &redis.url())],
        &["flag", "set", "capture_network", "--org", &org, "off"],
    );
    let set_at = Instant::now();
    for t in [&mut on_b, &mut on_a] {
        let m = settings_within(t, set_at, FOLLOW).await;
        assert_eq!(m["capture_network"], false, "{m}");
        assert_eq!(m["capture_console"], false, "{m}");
    }
    eprintln!("both nodes followed the hint in {:?}", set_at.elapsed());

    // The dashboard's flags come from the same rules: the organisation's
    // override reaches `GET /api/v1/me` on the other node.
    let me = Api::new(nodes[1].base(), &token).json("/api/v1/me").await;
    assert_eq!(me["flags"]["capture_network"], false, "{me}");
    assert_eq!(me["flags"]["notes"], true, "{me}");
}
