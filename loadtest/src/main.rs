//! `reel-loadtest`: see the crate docs in `lib.rs` and docs/PERFORMANCE.md.

use clap::Parser;
use reel_loadtest::args::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let summary = reel_loadtest::run(args).await?;
    print!("{}", reel_loadtest::human(&summary));
    // The last line is the machine-readable summary.
    println!("{summary}");
    Ok(())
}
