//! `deploy/monitoring/` against a real node: a real Prometheus (Debian's
//! package) scrapes a `reel serve` that recorded a session, loads
//! `alerts.yml` and evaluates every rule against the scrape; every metric
//! the rules and the Grafana dashboard read is one the node exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reel_actors::metric_names;
use serde_json::Value;

use crate::support::*;

/// Debian's `prometheus` package (`scripts/services` installs it).
const PROMETHEUS_BIN: &str = "/usr/bin/prometheus";
/// How often the test's Prometheus scrapes the node and evaluates the rules.
const SCRAPE_INTERVAL: &str = "1s";
/// How long Prometheus may take to start, scrape and evaluate.
const PROMETHEUS_DEADLINE: Duration = Duration::from_secs(120);
/// Between two looks at Prometheus's API while waiting for a condition.
const POLL: Duration = Duration::from_millis(200);
/// Batches the tracker sends (each acked).
const BATCHES: u64 = 5;

fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/monitoring")
}

/// A Prometheus server started by the test, killed when dropped.
struct Prometheus {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus on a free port with its storage in `dir`, scraping
    /// `target` (`HOST:PORT`) as job `reel` and loading the repository's
    /// alert rules.
    fn start(dir: &Path, target: &str) -> Prometheus {
        assert!(
            Path::new(PROMETHEUS_BIN).exists(),
            "{PROMETHEUS_BIN} is missing: run scripts/services (installs Debian's prometheus)"
        );
        let rules = monitoring_dir().join("alerts.yml");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  evaluation_interval: {SCRAPE_INTERVAL}\n\
                 rule_files:\n  - {rules}\n\
                 scrape_configs:\n  - job_name: reel\n    static_configs:\n      - targets: ['{target}']\n",
                rules = rules.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(PROMETHEUS_BIN)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// `GET /api/v1/{path}` with `query`; its `data`, or `None` while
    /// Prometheus does not answer (starting).
    async fn api(
        &self,
        http: &reqwest::Client,
        path: &str,
        query: &[(&str, &str)],
    ) -> Option<Value> {
        let res = http
            .get(format!("{}/api/v1/{path}", self.base))
            .query(query)
            .send()
            .await
            .ok()?;
        let body: Value = res.json().await.ok()?;
        assert_eq!(body["status"], "success", "{path} {query:?}: {body}");
        Some(body["data"].clone())
    }

    /// Panics with `what` and Prometheus's log once `deadline` passed;
    /// otherwise waits [`POLL`] before the caller looks again.
    async fn poll(&self, deadline: Instant, what: &str) {
        assert!(
            Instant::now() < deadline,
            "{what} not within {PROMETHEUS_DEADLINE:?}; prometheus log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        tokio::time::sleep(POLL).await;
    }

    /// Every rule of every group, as `/api/v1/rules` lists them.
    async fn rules(&self, http: &reqwest::Client) -> Option<Vec<Value>> {
        let data = self.api(http, "rules", &[]).await?;
        Some(
            data["groups"]
                .as_array()?
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect(),
        )
    }

    /// The single value of an instant query (`None` when it has no result).
    async fn value(&self, http: &reqwest::Client, expr: &str) -> Option<f64> {
        let data = self.api(http, "query", &[("query", expr)]).await?;
        let result = data["result"].as_array()?;
        assert!(result.len() <= 1, "{expr}: {data}");
        result.first()?["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The metric names a `/metrics` page exports (its `# TYPE` lines).
fn exported(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The `reel_` metric names a PromQL expression reads, crudely: every
/// identifier starting with `reel_`, a histogram's `_bucket`, `_sum` and
/// `_count` series counted as the histogram.
fn metrics_read(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("reel_") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if !preceded_by_ident {
            let name = &tail[..len];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|base| {
                    metric_names::ALL
                        .iter()
                        .any(|m| m.name == *base && m.kind == metric_names::Kind::Histogram)
                })
                .unwrap_or(name);
            names.insert(base.to_string());
        }
        rest = &tail[len..];
    }
    names
}

/// Every `expr` of the dashboard's panels (rows' nested panels too).
fn dashboard_exprs(panels: &Value, out: &mut Vec<String>) {
    for p in panels.as_array().into_iter().flatten() {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push(e.to_string());
            }
        }
        dashboard_exprs(&p["panels"], out);
    }
}

#[tokio::test]
async fn prometheus_scrapes_a_node_and_evaluates_the_alert_rules_and_dashboard() {
    init_logs();
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let (site, _token) = cli_site_and_token(dir.path(), &storage, "monitoring");
    let key = site["site_key"].as_str().unwrap().to_string();
    let node = Proc::serve(dir.path(), &storage).start();

    // A fresh node exports every metric reel declares.
    let (status, page) = node.get("/metrics", Duration::from_secs(10)).unwrap();
    assert_eq!(status, 200);
    let fresh = exported(&page);
    let missing: Vec<_> = metric_names::ALL
        .iter()
        .map(|m| m.name)
        .filter(|n| !fresh.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "a fresh node does not export {missing:?}"
    );
    assert!(
        page.contains(&format!("# HELP {} ", metric_names::ACK_DELAY_SECONDS)),
        "metrics are described"
    );

    // A little real traffic: one session, every batch acked, ended.
    let (mut tracker, _session) = Tracker::open(&node.ingest_url(&key, "v1"), "v1").await;
    for seq in 0..BATCHES {
        let ts = T0 + seq as i64 * 100;
        tracker
            .batch_acked(seq, &[ev::full_snapshot(ts, "page"), ev::click(ts + 1, 1)])
            .await;
    }
    tracker.end(BATCHES - 1).await;

    let prom_dir = tempfile::tempdir().unwrap();
    let prom = Prometheus::start(prom_dir.path(), &node.addr);
    let deadline = Instant::now() + PROMETHEUS_DEADLINE;
    loop {
        if let Some(data) = prom.api(&http, "targets", &[]).await {
            let targets = data["activeTargets"].as_array().unwrap();
            if targets.len() == 1 && targets[0]["health"] == "up" {
                break;
            }
        }
        prom.poll(deadline, "the node's target up").await;
    }
    assert_eq!(prom.value(&http, r#"up{job="reel"}"#).await, Some(1.0));
    // The scrape holds the traffic: every batch, one session, every ack.
    while prom.value(&http, r#"reel_batches_total{job="reel"}"#).await != Some(BATCHES as f64) {
        prom.poll(deadline, "the scraped batch count").await;
    }
    assert_eq!(
        prom.value(&http, r#"reel_sessions_started_total{job="reel"}"#)
            .await,
        Some(1.0)
    );
    assert!(
        prom.value(&http, r#"reel_ack_delay_seconds_count{job="reel"}"#)
            .await
            .is_some_and(|acks| acks >= BATCHES as f64),
        "every ack has its delay recorded"
    );

    // Every rule of alerts.yml loaded and evaluated without error against
    // the scrape: wait for two evaluations of each past this point.
    let mut before = prom.rules(&http).await.unwrap();
    let mut evaluations = 0;
    let rules = loop {
        let now = prom.rules(&http).await.unwrap();
        let evaluated = now.len() == before.len()
            && now
                .iter()
                .zip(&before)
                .all(|(r, b)| r["lastEvaluation"] != b["lastEvaluation"]);
        if evaluated {
            evaluations += 1;
            if evaluations == 2 {
                break now;
            }
            before = now;
        }
        prom.poll(deadline, "two evaluations of every rule").await;
    };
    let file = std::fs::read_to_string(monitoring_dir().join("alerts.yml")).unwrap();
    let declared: BTreeSet<&str> = file
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    let loaded: BTreeSet<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(loaded, declared, "every alert of alerts.yml loaded");
    // Each runbook is a subsection of docs/operations.md (GitHub's anchor
    // of `### ReelNodeDown` is `#reelnodedown`).
    let operations =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md"))
            .unwrap();
    let anchors: BTreeSet<String> = operations
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|h| format!("docs/operations.md#{}", h.trim().to_lowercase()))
        .collect();
    for r in &rules {
        assert_eq!(r["health"], "ok", "rule evaluated with an error: {r}");
        let runbook = r["annotations"]["runbook"].as_str().unwrap_or("");
        assert!(
            anchors.contains(runbook),
            "no subsection for the runbook of {r}"
        );
        assert!(
            ["critical", "warning"].contains(&r["labels"]["severity"].as_str().unwrap_or("")),
            "{r}"
        );
    }
    // On a healthy node nothing is firing or pending (the disk rules read
    // the machine's disk, which other work on it may fill or drain).
    let active: Vec<&Value> = rules
        .iter()
        .filter(|r| !r["name"].as_str().unwrap().starts_with("ReelDisk"))
        .filter(|r| r["state"] != "inactive")
        .collect();
    assert!(
        active.is_empty(),
        "alerts active on a healthy node: {active:?}"
    );

    // What the rules and the dashboard read, the node exports (after
    // serving traffic, which every histogram needs no more than a name).
    let (_, page) = node.get("/metrics", Duration::from_secs(10)).unwrap();
    let names = exported(&page);
    let mut read_by_rules = BTreeSet::new();
    for r in &rules {
        read_by_rules.extend(metrics_read(r["query"].as_str().unwrap()));
    }
    assert!(read_by_rules.contains(metric_names::ACK_DELAY_SECONDS));
    let unknown: Vec<_> = read_by_rules.difference(&names).collect();
    assert!(
        unknown.is_empty(),
        "alerts.yml reads metrics the node does not export: {unknown:?}"
    );

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(monitoring_dir().join("grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard["panels"], &mut exprs);
    assert!(exprs.len() > 20, "the dashboard's queries were found");
    let mut read_by_dashboard = BTreeSet::new();
    for expr in &exprs {
        read_by_dashboard.extend(metrics_read(expr));
        // Valid PromQL, as Grafana would send it.
        let query = expr
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*");
        prom.api(&http, "query", &[("query", &query)])
            .await
            .unwrap_or_else(|| panic!("prometheus did not answer {query}"));
    }
    let unknown: Vec<_> = read_by_dashboard.difference(&names).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard reads metrics the node does not export: {unknown:?}"
    );
    for p in dashboard["panels"].as_array().unwrap() {
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        }
    }
    drop(prom);
}

#[test]
fn metrics_read_takes_histograms_by_their_name() {
    let got = metrics_read(
        r#"histogram_quantile(0.99, sum by (le) (rate(reel_ack_delay_seconds_bucket{job="reel"}[5m]))) / reel_batches_total + my_reel_thing + reel_errors_total_count"#,
    );
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        [
            "reel_ack_delay_seconds",
            "reel_batches_total",
            "reel_errors_total_count"
        ]
    );
}
