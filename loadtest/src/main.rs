//! `reel-loadtest`: see the crate docs in `lib.rs`, `loadtest/README.md`
//! and docs/PERFORMANCE.md. The library runs and writes the report and
//! charts; this only prints.

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
            let summary = reel_loadtest::hold::run(args).await?;
            finish(
                &reel_loadtest::hold::human(&summary),
                &summary,
                report.as_deref(),
            );
            Ok(())
        }
        None => {
            let report = cli.run.output.report.clone();
            let summary = reel_loadtest::run(cli.run).await?;
            finish(&reel_loadtest::human(&summary), &summary, report.as_deref());
            if summary["verify"]["ok"] == false {
                eprintln!("reel-loadtest: --verify FAILED (see the `verify:` lines above)");
                std::process::exit(2);
            }
            Ok(())
        }
    }
}

/// Prints the text summary, where the report was written, then the JSON
/// summary as the last line (what scripts read).
fn finish(text: &str, summary: &serde_json::Value, report: Option<&std::path::Path>) {
    print!("{text}");
    if let Some(path) = report {
        println!("report: {}", path.display());
    }
    println!("{summary}");
}
