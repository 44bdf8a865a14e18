//! What the load generator reads from the node under test: its Prometheus
//! `/metrics` (spool fsync time and group size) and, when it runs on this
//! machine, its CPU time and memory from `/proc`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a `/metrics` scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Metric series read from `/metrics` (name with labels -> value).
pub type Samples = BTreeMap<String, f64>;

/// The histograms and counters the summary reports, as deltas over a run.
const WATCHED: &[&str] = &[
    "reel_spool_fsync_seconds",
    "reel_spool_group_size",
    "reel_ack_delay_seconds",
    "reel_segment_flush_seconds",
];

/// GETs `url` (plain `http://host:port/path`) and parses the Prometheus text.
pub async fn scrape(url: &str) -> anyhow::Result<Samples> {
    let rest = url
        .strip_prefix("http://")
        .context("metrics URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let body = tokio::time::timeout(SCRAPE_TIMEOUT, async {
        let mut stream = TcpStream::connect(authority).await?;
        // HTTP/1.0: no chunked encoding, the server closes when done.
        let req = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: text/plain\r\n\r\n");
        stream.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await?;
        anyhow::Ok(buf)
    })
    .await
    .context("metrics scrape timed out")??;
    let text = String::from_utf8_lossy(&body);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("metrics response has no body");
    };
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("metrics: {}", head.lines().next().unwrap_or(""));
    }
    Ok(parse_prometheus(body))
}

/// Series of the Prometheus text format; comments and bad lines skipped.
pub fn parse_prometheus(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The value is the last field (no timestamps are written by reel).
        if let Some((series, value)) = line.rsplit_once(' ') {
            if let Ok(v) = value.parse::<f64>() {
                out.insert(series.trim().to_string(), v);
            }
        }
    }
    out
}

/// `after - before` for the `_sum` and `_count` of each watched histogram,
/// with the mean, as JSON.
pub fn histogram_deltas(before: &Samples, after: &Samples) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for name in WATCHED {
        let get =
            |s: &Samples, suffix: &str| s.get(&format!("{name}{suffix}")).copied().unwrap_or(0.0);
        let sum = get(after, "_sum") - get(before, "_sum");
        let count = get(after, "_count") - get(before, "_count");
        if count > 0.0 {
            out.insert(
                (*name).to_string(),
                serde_json::json!({ "sum": sum, "count": count, "mean": sum / count }),
            );
        }
    }
    // The node's own ack delay (PROTOCOL.md §1), as bucket bounds.
    if let Some(q) = bucket_quantiles(before, after, "reel_ack_delay_seconds") {
        out.insert("reel_ack_delay_seconds_quantiles".into(), q);
    }
    // Every counter of errors, closes and refusals, as a delta.
    for (series, v) in after {
        if series.starts_with("reel_errors_total")
            || series.starts_with("reel_overload_refusals_total")
            || series.starts_with("reel_ingest_budget_waits_total")
        {
            let d = v - before.get(series).copied().unwrap_or(0.0);
            if d > 0.0 {
                out.insert(series.clone(), serde_json::json!(d));
            }
        }
    }
    serde_json::Value::Object(out)
}

/// p50, p99 and max of a histogram over the run, each as the upper bound
/// of the bucket it falls in (seconds; `inf` past the last bucket).
pub fn bucket_quantiles(
    before: &Samples,
    after: &Samples,
    name: &str,
) -> Option<serde_json::Value> {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter_map(|(series, v)| {
            let le = series.strip_prefix(&prefix)?.strip_suffix("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, v - before.get(series).copied().unwrap_or(0.0)))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let at = |q: f64| {
        let le = buckets
            .iter()
            .find(|(_, c)| *c >= q * total)
            .map_or(f64::INFINITY, |b| b.0);
        if le.is_finite() {
            serde_json::json!(le)
        } else {
            serde_json::json!("inf")
        }
    };
    Some(
        serde_json::json!({ "count": total, "p50_le": at(0.5), "p99_le": at(0.99), "max_le": at(1.0) }),
    )
}

/// CPU seconds (user + system) a process has used, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces: fields are
    // counted after the last ')'. utime and stime are fields 14 and 15.
    let after = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("odd /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / crate::sys::clock_ticks())
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in MiB.
pub fn status_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            let kb: f64 = rest.trim().trim_end_matches("kB").trim().parse()?;
            return Ok(kb / 1024.0);
        }
    }
    bail!("no {field} in /proc/{pid}/status")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_histograms_and_takes_deltas() {
        let before = parse_prometheus(
            "# TYPE reel_spool_group_size histogram\nreel_spool_group_size_bucket{le=\"1\"} 3\nreel_spool_group_size_sum 10\nreel_spool_group_size_count 5\n",
        );
        let after = parse_prometheus(
            "reel_spool_group_size_sum 40\nreel_spool_group_size_count 10\nreel_errors_total{code=\"idle\"} 2\n",
        );
        assert_eq!(
            before.get("reel_spool_group_size_bucket{le=\"1\"}"),
            Some(&3.0)
        );
        let d = histogram_deltas(&before, &after);
        assert_eq!(d["reel_spool_group_size"]["mean"], 6.0);
        assert_eq!(d["reel_errors_total{code=\"idle\"}"], 2.0);
        assert!(d.get("reel_spool_fsync_seconds").is_none());
        let hist = parse_prometheus(
            "reel_ack_delay_seconds_bucket{le=\"0.5\"} 90\nreel_ack_delay_seconds_bucket{le=\"1\"} 99\nreel_ack_delay_seconds_bucket{le=\"5\"} 100\nreel_ack_delay_seconds_bucket{le=\"+Inf\"} 100\n",
        );
        let q = bucket_quantiles(&Samples::new(), &hist, "reel_ack_delay_seconds").unwrap();
        assert_eq!(q["p50_le"], 0.5);
        assert_eq!(q["p99_le"], 1.0);
        assert_eq!(q["max_le"], 5.0);
    }

    #[test]
    fn reads_own_cpu_and_memory() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(status_mib(pid, "VmRSS").unwrap() > 0.0);
    }
}
