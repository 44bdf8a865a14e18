//! `reel-loadtest`: see the crate docs in `lib.rs`, `loadtest/README.md`
//! and docs/PERFORMANCE.md.

use clap::Parser;
use reel_loadtest::args::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Sink(args)) => {
            let sink = reel_loadtest::sink::InProcessSink::start(args.listen, args.threads)?;
            println!("reel-loadtest sink listening on ws://{}", sink.addr);
            tokio::signal::ctrl_c().await?;
            Ok(())
        }
        Some(Command::Hold(args)) => {
            let report = args.output.report.clone();
            let charts = args.output.charts.clone();
            let mut summary = reel_loadtest::hold::run(args).await?;
            if let Some(dir) = charts {
                summary["charts"] =
                    serde_json::json!(reel_loadtest::charts::write(&dir, &summary)?);
            }
            finish(
                &reel_loadtest::hold::human(&summary),
                &summary,
                report.as_deref(),
            )?;
            Ok(())
        }
        None => {
            let report = cli.run.output.report.clone();
            let summary = reel_loadtest::run(cli.run).await?;
            finish(&reel_loadtest::human(&summary), &summary, report.as_deref())?;
            if summary["verify"]["ok"] == false {
                eprintln!("reel-loadtest: --verify FAILED (see the `verify:` lines above)");
                std::process::exit(2);
            }
            Ok(())
        }
    }
}

/// Prints the text summary, then the JSON summary as the last line (what
/// scripts read), and writes the JSON report when asked.
fn finish(
    text: &str,
    summary: &serde_json::Value,
    report: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    print!("{text}");
    if let Some(path) = report {
        let pretty = serde_json::to_string_pretty(summary)?;
        std::fs::write(path, pretty + "\n")
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        println!("report: {}", path.display());
    }
    println!("{summary}");
    Ok(())
}
