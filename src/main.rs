use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = reel::cli::Cli::parse();
    match actix_web::rt::System::new().block_on(reel::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "reel stopped");
            eprintln!("reel: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
