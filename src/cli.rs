//! The `reel` command line (PROTOCOL.md §3).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::app::{open_index, Node};
use crate::config::Config;
use crate::index::DEFAULT_ORG;

#[derive(Parser, Debug)]
#[command(
    name = "reel",
    version,
    about = "Self-hostable session recording and live sessions"
)]
pub struct Cli {
    /// A reel.toml; REEL_* environment variables override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one node.
    Serve {
        /// Serve the demo shop at /demo/ (a "Demo shop" site) and print a
        /// dashboard token.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending index migrations.
    Migrate,
    /// Manage sites.
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum SiteCommand {
    /// Create a site; prints {"site_id":...,"site_key":...}.
    Create {
        #[arg(long)]
        name: String,
        /// An allowed Origin (repeatable); none: any origin.
        #[arg(long = "origin")]
        origins: Vec<String>,
        #[arg(long, default_value = DEFAULT_ORG)]
        org: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Role {
    Admin,
    Member,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token; prints {"token":...}. Shown once, stored hashed.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "member")]
        role: Role,
        #[arg(long, default_value = DEFAULT_ORG)]
        org: String,
    },
}

/// Runs a command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    let _telemetry = crate::telemetry::init(&config);
    match cli.command {
        Command::Serve { demo } => {
            let mut config = config;
            config.demo |= demo;
            serve(config).await
        }
        Command::Migrate => {
            let index = open_index(&config).await?;
            index.migrate().await?;
            println!("{}", serde_json::json!({"migrated": true}));
            Ok(())
        }
        Command::Site {
            command: SiteCommand::Create { name, origins, org },
        } => {
            let index = open_index(&config).await?;
            index.migrate().await?;
            let (id, key) = index.create_site(&org, &name, &origins).await?;
            println!("{}", serde_json::json!({"site_id": id, "site_key": key}));
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { name, role, org },
        } => {
            let index = open_index(&config).await?;
            index.migrate().await?;
            let role = match role {
                Role::Admin => "admin",
                Role::Member => "member",
            };
            let token = index.create_token(&org, &name, role).await?;
            println!("{}", serde_json::json!({"token": token}));
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let token = if config.demo {
        let index = open_index(&config).await?;
        index.migrate().await?;
        Some(index.create_token(DEFAULT_ORG, "demo", "admin").await?)
    } else {
        None
    };
    let mut node = Node::start(config).await?;
    println!("reel listening on http://{}", node.addr);
    if let Some(token) = token {
        println!("demo shop:  http://{}/demo/", node.addr);
        println!(
            "dashboard:  http://{}/app/  (sign in with token {token})",
            node.addr
        );
    }
    let server = node.take_server().expect("a new node has its server");
    let server = actix_web::rt::spawn(server);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    node.shutdown().await;
    let _ = server.await;
    Ok(())
}
