//! The `reel-loadtest` binary as its users run it: `reel-loadtest sink`
//! as a process of its own, and a few-second run against it that writes
//! its report and charts.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_reel-loadtest");

/// A child process, killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory of its own under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reel-lt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_run_against_the_sink_process_is_acked_and_reported() {
    let mut sink = Command::new(BIN)
        .args(["sink", "--listen", "127.0.0.1:0", "--threads", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = sink.stdout.take().unwrap();
    let sink = Killed(sink);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let server = line
        .trim()
        .strip_prefix("reel-loadtest sink listening on ")
        .unwrap_or_else(|| panic!("sink said {line:?}"))
        .to_string();

    let dir = scratch("cli");
    let report = dir.join("report.json");
    let charts = dir.join("charts");
    let pid = sink.0.id().to_string();
    let out = Command::new(BIN)
        .args([
            "--server",
            &server,
            "--site",
            "any",
            "--clients",
            "4",
            "--rate",
            "10",
            "--duration",
            "2",
            "--ramp",
            "0.2",
            "--snapshot-kb",
            "2",
            "--batch-kb-min",
            "1",
            "--batch-kb-max",
            "2",
            "--drain-timeout",
            "5",
            "--no-metrics",
            "--no-progress",
            "--server-pid",
            &pid,
            "--label",
            "cli",
        ])
        .arg("--report")
        .arg(&report)
        .arg("--charts")
        .arg(&charts)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The last line is the summary; the report file is the same summary.
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["label"], "cli");
    assert_eq!(summary["connected"], 4, "{summary:#}");
    assert_eq!(summary["clean_finishes"], 4, "{summary:#}");
    let acked = summary["batches_acked"].as_u64().unwrap();
    assert!(acked >= 4, "{summary:#}");
    assert_eq!(summary["batches_sent"], acked, "{summary:#}");
    assert_eq!(summary["unacked_at_end"], 0, "{summary:#}");
    assert!(summary["server"]["cpu_s"].is_number(), "{summary:#}");
    assert!(
        stdout.contains(&format!("report: {}", report.display())),
        "{stdout}"
    );
    let written: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(written, summary);
    assert!(
        stdout.contains(&format!("{acked} acked")),
        "the text prints what the report holds: {stdout}"
    );
    for chart in ["throughput.svg", "latency.svg", "rss.svg"] {
        let svg = std::fs::read_to_string(charts.join(chart)).unwrap();
        assert!(svg.starts_with("<svg"), "{chart}");
        assert!(
            summary["charts"]
                .as_array()
                .unwrap()
                .contains(&Value::from(charts.join(chart).to_str().unwrap())),
            "{summary:#}"
        );
    }
    drop(sink);
    std::fs::remove_dir_all(&dir).unwrap();
}
