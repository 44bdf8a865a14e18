//! Feature flags (docs/operations.md, "Feature flags") on a real `reel
//! serve` process, managed with the real `reel flag` CLI on the same
//! database while the node runs: a change reaches a connected tracker as
//! `settings` within 5 s; a percentage gives a session the same answer on
//! every connection; the `compaction` flag holds a site's sessions back;
//! the CLI refuses what it cannot set; rows of a newer version's flags are
//! ignored.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reel_protocol::flags::Flag;
use serde_json::Value;

use crate::support::*;

/// How soon every node follows a change (docs/operations.md).
const FOLLOW: Duration = Duration::from_secs(5);
/// How long compaction may take here.
const WAIT: Duration = Duration::from_secs(60);

/// `reel ARGS` on `dir` and `storage`, to its end.
fn reel(dir: &Path, storage: &TestStorage, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(args)
        .envs(storage.env())
        .env("REEL_DATA_DIR", dir)
        .env("REEL_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A tracker of a new session on `node`'s site `key`; the tracker, its
/// session and the welcome's settings.
async fn open(node: &Proc, key: &str, visitor: &str) -> (Tracker, String, Value) {
    let mut t = Tracker::connect(&node.ingest_url(key, visitor), None)
        .await
        .unwrap();
    let w = t.hello(visitor, None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    (t, session, w["settings"].clone())
}

#[tokio::test]
async fn a_site_flag_set_with_the_cli_reaches_a_connected_tracker_within_5_s() {
    init_logs();
    let storage = TestStorage::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (site, token) = cli_site_and_token(dir.path(), &storage, "flags");
    let other = cli(dir.path(), &storage, &["site", "create", "--name", "other"]);
    let node = Proc::serve(dir.path(), &storage).start();
    let key = site["site_key"].as_str().unwrap();
    let id = site["site_id"].to_string();

    let (mut t, _, settings) = open(&node, key, "v1").await;
    assert_eq!(settings["capture_console"], true, "{settings}");
    assert_eq!(settings["flags"]["capture_console"], true, "{settings}");
    assert_eq!(settings["flags"]["compaction"], true, "{settings}");
    let (mut bystander, _, _) = open(&node, other["site_key"].as_str().unwrap(), "v2").await;

    let out = cli(
        dir.path(),
        &storage,
        &["flag", "set", "capture_console", "--site", &id, "off"],
    );
    assert_eq!(out["name"], "capture_console", "{out}");
    assert_eq!(out["rules"][0]["scope"], "site", "{out}");
    assert_eq!(out["rules"][0]["rule"], "off", "{out}");
    let set_at = Instant::now();
    let m = settings_within(&mut t, set_at, FOLLOW).await;
    assert_eq!(m["capture_console"], false, "{m}");
    assert_eq!(m["flags"]["capture_console"], false, "{m}");
    // The flag alone changed: the rest is as the site says.
    assert_eq!(m["capture_network"], true, "{m}");
    eprintln!("settings {:?} after the CLI returned", set_at.elapsed());

    // The other site's tracker is told nothing (its settings are as they
    // were): a batch is acked with nothing before its ack.
    bystander
        .batch_acked(0, &[ev::meta(T0, "https://shop.example/")])
        .await;

    // Cleared: back to what the site says, as fast.
    cli(
        dir.path(),
        &storage,
        &["flag", "clear", "capture_console", "--site", &id],
    );
    let cleared_at = Instant::now();
    let m = settings_within(&mut t, cleared_at, FOLLOW).await;
    assert_eq!(m["capture_console"], true, "{m}");

    // A site whose own setting is off stays off whatever the flag says.
    cli(
        dir.path(),
        &storage,
        &["flag", "set", "capture_network", "on"],
    );
    let (status, _) = Api::new(node.base(), &token)
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/sites/{id}"),
            &serde_json::json!({"settings": {"capture_network": false}}),
        )
        .await;
    assert_eq!(status, 200);
    let m = settings_within(&mut t, Instant::now(), FOLLOW).await;
    assert_eq!(m["capture_network"], false, "{m}");
    assert_eq!(m["flags"]["capture_network"], true, "{m}");
}

#[tokio::test]
async fn a_percentage_gives_each_session_the_same_answer_on_every_connection() {
    init_logs();
    let storage = TestStorage::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (site, _) = cli_site_and_token(dir.path(), &storage, "flags");
    let key = site["site_key"].as_str().unwrap().to_string();
    cli(dir.path(), &storage, &["flag", "set", "notes", "50%"]);
    let node = Proc::serve(dir.path(), &storage).start();

    let mut answers = Vec::new();
    for i in 0..24 {
        let visitor = format!("v{i}");
        let (t, session, settings) = open(&node, &key, &visitor).await;
        let on = settings["flags"]["notes"].as_bool().unwrap();
        // The node's answer is the documented bucket of the session id.
        assert_eq!(
            on,
            reel_actors::flags::in_rollout(Flag::Notes, &session, 50),
            "{session}"
        );
        // Gone without a close (as a closed tab): no wait for the close.
        drop(t);
        answers.push((visitor, session, on));
    }
    let on = answers.iter().filter(|a| a.2).count();
    assert!(0 < on && on < answers.len(), "{on} of 24 on: not a rollout");

    // Reconnected (a page load, a new connection): the same answer.
    for (visitor, session, was) in &answers {
        let mut t = Tracker::connect(&node.ingest_url(&key, visitor), None)
            .await
            .unwrap();
        let w = t.hello(visitor, Some(session), "tab2", None).await;
        assert_eq!(&w["session"], session.as_str(), "{w}");
        assert_eq!(w["settings"]["flags"]["notes"], *was, "{session}: {w}");
        drop(t);
    }
}

#[tokio::test]
async fn the_cli_refuses_unknown_flags_and_bad_percentages_and_ignores_rows_of_newer_flags() {
    init_logs();
    let storage = TestStorage::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (site, _) = cli_site_and_token(dir.path(), &storage, "flags");
    let id = site["site_id"].to_string();
    for (args, says) in [
        (
            vec!["flag", "set", "no_such_flag", "on"],
            "unknown flag \"no_such_flag\"; the flags are: capture_console, capture_network, compaction, notes",
        ),
        (vec!["flag", "clear", "nope"], "unknown flag \"nope\""),
        (vec!["flag", "set", "notes", "101"], "\"101\" is not a flag rule"),
        (vec!["flag", "set", "notes", "-1"], "\"-1\" is not a flag rule"),
        (vec!["flag", "set", "notes", "abc"], "\"abc\" is not a flag rule"),
        (vec!["flag", "set", "notes", "--site", "999999", "on"], "no site 999999"),
        (vec!["flag", "clear", "notes", "--site", &id], "notes has no site"),
    ] {
        let out = reel(dir.path(), &storage, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
    }
    // --org and --site together: clap refuses them.
    let out = reel(
        dir.path(),
        &storage,
        &["flag", "set", "notes", "--org", "1", "--site", &id, "on"],
    );
    assert!(!out.status.success());

    // A row a newer version wrote (a flag this one does not know) is
    // ignored by the CLI and by a node.
    let written = storage
        .execute(
            dir.path(),
            "INSERT INTO flag_rules (flag, scope, scope_id, rule, updated_at) \
             VALUES ('from_a_newer_version', 'global', 0, 'on', 1)",
        )
        .await;
    assert_eq!(written, 1);
    cli(
        dir.path(),
        &storage,
        &["flag", "set", "notes", "--site", &id, "25"],
    );
    let list = cli(dir.path(), &storage, &["flag", "list"]);
    let flags = list["flags"].as_array().unwrap();
    let names: Vec<&str> = flags.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["capture_console", "capture_network", "compaction", "notes"]
    );
    let notes = &flags[3];
    assert_eq!(notes["default"], true);
    assert_eq!(
        notes["rules"],
        serde_json::json!([{"flag": "notes", "scope": "site", "id": site["site_id"], "rule": {"percent": 25}, "updated_at": notes["rules"][0]["updated_at"]}])
    );
    let node = Proc::serve(dir.path(), &storage).start();
    let (_t, _, settings) = open(&node, site["site_key"].as_str().unwrap(), "v").await;
    assert!(
        settings["flags"].get("from_a_newer_version").is_none(),
        "{settings}"
    );
    assert_eq!(settings["flags"]["capture_console"], true, "{settings}");
}

/// A config file for a node that ends a session 400 ms after its last
/// activity and compacts it at once.
fn compacting_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("compaction.toml");
    std::fs::write(
        &path,
        "[limits]\ninactivity_timeout_ms = 400\n\
         [compaction]\nenabled = true\npoll_ms = 50\nafter_end_ms = 0\nquiet_ms = 0\nreader_grace_ms = 0\n",
    )
    .unwrap();
    path
}

/// Records an ended session of one tab on site `key`; waits until its
/// segment is stored. Returns the session.
async fn ended_session(node: &Proc, api: &Api, key: &str, visitor: &str) -> String {
    let (mut t, session, _) = open(node, key, visitor).await;
    let now = reel_actors::now_ms();
    t.batch_acked(
        0,
        &[
            ev::meta(now, "https://shop.example/"),
            ev::full_snapshot(now + 1, "page"),
        ],
    )
    .await;
    t.batch_acked(1, &[ev::click(now + 2, 1)]).await;
    t.end(1).await;
    t.close().await;
    let deadline = Instant::now() + WAIT;
    while api.json(&format!("/api/v1/sessions/{session}")).await["segments"] != 1 {
        assert!(Instant::now() < deadline, "no segment of {session}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    session
}

/// Is each of the session's segments a compacted object?
async fn compacted(api: &Api, session: &str) -> bool {
    let segs = api
        .json(&format!("/api/v1/sessions/{session}/segments"))
        .await;
    let segs = segs.as_array().cloned().unwrap_or_default();
    !segs.is_empty()
        && segs
            .iter()
            .all(|s| s["key"].as_str().unwrap().ends_with(".c.ndjson.zst"))
}

#[tokio::test]
async fn the_compaction_flag_off_for_a_site_holds_its_sessions_back_until_it_is_on() {
    init_logs();
    let storage = TestStorage::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (held, token) = cli_site_and_token(dir.path(), &storage, "held");
    let free = cli(dir.path(), &storage, &["site", "create", "--name", "free"]);
    let held_id = held["site_id"].to_string();
    cli(
        dir.path(),
        &storage,
        &["flag", "set", "compaction", "--site", &held_id, "off"],
    );
    let node = Proc::serve(dir.path(), &storage)
        .env("REEL_CONFIG", compacting_config(dir.path()))
        .start();
    let api = Api::new(node.base(), &token);
    // The held site's session first: older, so every pass that finds the
    // other one finds it too (candidates come oldest first).
    let kept = ended_session(&node, &api, held["site_key"].as_str().unwrap(), "a").await;
    let done = ended_session(&node, &api, free["site_key"].as_str().unwrap(), "b").await;
    let deadline = Instant::now() + WAIT;
    while !compacted(&api, &done).await {
        assert!(Instant::now() < deadline, "{done} not compacted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !compacted(&api, &kept).await,
        "{kept} compacted with its flag off"
    );
    let held_gauge = metric(&node, "reel_compaction_held_by_flag").await;
    assert!(
        held_gauge >= 1.0,
        "reel_compaction_held_by_flag {held_gauge}"
    );

    // The flag on again (the override removed): compacted by a later pass.
    cli(
        dir.path(),
        &storage,
        &["flag", "clear", "compaction", "--site", &held_id],
    );
    let deadline = Instant::now() + WAIT;
    while !compacted(&api, &kept).await {
        assert!(
            Instant::now() < deadline,
            "{kept} not compacted after the flag came on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A metric's value from the node's `/metrics` (0 when absent).
async fn metric(node: &Proc, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", node.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.split_whitespace().next_back()?.parse().ok())
        .unwrap_or(0.0)
}
