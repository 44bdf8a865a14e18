//! SVG charts of a summary's `per_second` rows (plotters' SVG backend:
//! no system fonts needed): `throughput.svg` (acked batches per second),
//! `latency.svg` (ack p50 and p99 per second) and `rss.svg` (the node's
//! RSS), each with the sink's series when the run was compared with it;
//! for a hold, `rss.svg` and `connections.svg` (connections open).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use plotters::prelude::*;
use serde_json::Value;

/// Size of each chart in pixels.
const SIZE: (u32, u32) = (960, 420);

/// One line of a chart.
struct Series {
    name: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// `(second, value)` of every row of `summary.per_second` where `key` is
/// a number.
fn column(summary: &Value, key: &str) -> Vec<(f64, f64)> {
    summary["per_second"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| Some((row["s"].as_f64()?, row[key].as_f64()?)))
        .collect()
}

/// Writes the charts of `summary` into `dir`; returns their paths.
pub fn write(dir: &Path, summary: &Value) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let sink = summary.get("sink").filter(|s| !s.is_null());
    let mut written = Vec::new();
    let mut throughput = vec![Series {
        name: "reel".into(),
        color: BLUE,
        points: column(summary, "acks"),
    }];
    let mut latency = vec![
        Series {
            name: "reel p50".into(),
            color: BLUE,
            points: column(summary, "p50_ms"),
        },
        Series {
            name: "reel p99".into(),
            color: RED,
            points: column(summary, "p99_ms"),
        },
    ];
    if let Some(sink) = sink {
        throughput.push(Series {
            name: "sink".into(),
            color: RGBColor(120, 120, 120),
            points: column(sink, "acks"),
        });
        latency.push(Series {
            name: "sink p50".into(),
            color: RGBColor(120, 160, 220),
            points: column(sink, "p50_ms"),
        });
        latency.push(Series {
            name: "sink p99".into(),
            color: RGBColor(230, 150, 150),
            points: column(sink, "p99_ms"),
        });
    }
    if throughput.iter().any(|s| !s.points.is_empty()) {
        let p = dir.join("throughput.svg");
        chart(&p, "acked batches per second", "batches/s", &throughput)?;
        written.push(p);
    }
    if latency.iter().any(|s| !s.points.is_empty()) {
        let p = dir.join("latency.svg");
        chart(&p, "ack latency per second (send -> ack)", "ms", &latency)?;
        written.push(p);
    }
    let rss = column(summary, "rss_mib");
    if !rss.is_empty() {
        let p = dir.join("rss.svg");
        let series = [Series {
            name: "node RSS".into(),
            color: RGBColor(0, 140, 70),
            points: rss,
        }];
        chart(&p, "node RSS", "MiB", &series)?;
        written.push(p);
    }
    let connected = column(summary, "connected");
    if !connected.is_empty() {
        let p = dir.join("connections.svg");
        let series = [Series {
            name: "connections open".into(),
            color: BLUE,
            points: connected,
        }];
        chart(&p, "connections held", "connections", &series)?;
        written.push(p);
    }
    Ok(written)
}

/// One line chart, seconds on x.
fn chart(path: &Path, title: &str, y_desc: &str, series: &[Series]) -> anyhow::Result<()> {
    let err = |e: &dyn std::fmt::Debug| anyhow!("chart {}: {e:?}", path.display());
    let all = series.iter().flat_map(|s| s.points.iter());
    let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let y_max = all.map(|p| p.1).fold(0.0, f64::max).max(1e-3) * 1.1;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc(y_desc)
        .draw()
        .map_err(|e| err(&e))?;
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let color = s.color;
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_svg_charts_of_a_summary() {
        let row = |s: u64, acks: u64| json!({"s": s, "acks": acks, "p50_ms": 1.0, "p99_ms": 3.5, "rss_mib": 40.0 + s as f64});
        let summary = json!({
            "per_second": [row(0, 0), row(1, 90), row(2, 100)],
            "sink": {"per_second": [row(0, 0), row(1, 400), row(2, 410)]},
        });
        let dir = std::env::temp_dir().join(format!("reel-charts-{}", std::process::id()));
        let written = write(&dir, &summary).unwrap();
        assert_eq!(written.len(), 3);
        let svg = std::fs::read_to_string(dir.join("throughput.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        assert!(svg.contains("sink") && svg.contains("polyline"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
