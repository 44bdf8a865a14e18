use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = reel::cli::Cli::parse();
    match actix_web::rt::System::new().block_on(reel::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // A client's error may echo the URL it was given, password and all.
            let e = reel::secrets::redact(&format!("{e:#}"));
            tracing::error!(error = %e, "reel stopped");
            eprintln!("reel: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
