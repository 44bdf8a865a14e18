//! The `reel` command line (PROTOCOL.md §3).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::app::{open_index, Node};
use crate::config::Config;
use crate::index::DEFAULT_ORG;
use crate::redis::RedisBus;
use reel_actors::traits::{topics, Bus, BusMessage, Maintenance};

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
    /// Switch maintenance for every node of this database: the operator's
    /// switch, not an organisation's. Prints the state as JSON.
    Maintenance {
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
    /// Writes storage refused for their content, kept on this node's disk
    /// (docs/operations.md, "Writes storage refuses").
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeadLetterCommand {
    /// Prints one JSON line per dead letter: file, session, op, error.
    List,
    /// Applies dead letters to the configured storage again (all, or the
    /// files named); each one storage takes is removed. Prints one JSON
    /// line per letter. Fix what made storage refuse them first.
    Replay { files: Vec<PathBuf> },
}

#[derive(Subcommand, Debug)]
pub enum MaintenanceCommand {
    /// Every node refuses new recordings (503) and closes open ones (4503)
    /// within 5 s.
    On {
        /// Told to trackers with the refusal.
        #[arg(long, default_value = "")]
        message: String,
    },
    /// Every node accepts recordings again within 5 s.
    Off,
    /// Prints the switch.
    Status,
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
        Command::Maintenance { command } => maintenance(&config, command).await,
        Command::DeadLetters { command } => dead_letters(&config, command).await,
    }
}

/// `reel dead-letters list|replay`.
async fn dead_letters(config: &Config, command: DeadLetterCommand) -> anyhow::Result<()> {
    use crate::dead_letters::{list, read, remove};
    let dir = config.dead_letters_dir();
    match command {
        DeadLetterCommand::List => {
            for path in list(&dir)? {
                let (file, _) = read(&path)?;
                println!(
                    "{}",
                    serde_json::json!({
                        "file": path, "at": file.at, "session_id": file.session_id,
                        "op": file.op, "error": file.error,
                    })
                );
            }
            Ok(())
        }
        DeadLetterCommand::Replay { files } => {
            let files = if files.is_empty() { list(&dir)? } else { files };
            let index = open_index(config).await?.into_dyn();
            let blob = crate::app::open_blob_store(config).await?;
            let mut failed = 0;
            for path in files {
                let (file, op) = read(&path)?;
                match reel_actors::outbox::apply(blob.as_ref(), index.as_ref(), &op).await {
                    Ok(()) => {
                        remove(&path, &file)?;
                        println!("{}", serde_json::json!({"file": path, "applied": true}));
                    }
                    Err(e) => {
                        failed += 1;
                        println!(
                            "{}",
                            serde_json::json!({"file": path, "applied": false, "error": e.to_string()})
                        );
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!("{failed} dead letters not applied; they stay");
            }
            Ok(())
        }
    }
}

/// `reel maintenance on|off|status`: writes (or reads) the switch in the
/// index, which every node polls; with a Redis bus configured, also tells
/// the nodes at once.
async fn maintenance(config: &Config, command: MaintenanceCommand) -> anyhow::Result<()> {
    let index = open_index(config).await?;
    index.migrate().await?;
    let index = index.into_dyn();
    let (switch, switched) = match command {
        MaintenanceCommand::Status => (index.maintenance().await?, false),
        MaintenanceCommand::On { message } => (index.set_maintenance(true, &message).await?, true),
        MaintenanceCommand::Off => (index.set_maintenance(false, "").await?, true),
    };
    if let (true, Some(url)) = (switched, &config.redis_url) {
        announce(url.expose(), &switch).await;
    }
    println!(
        "{}",
        serde_json::json!({
            "maintenance": switch.enabled,
            "message": switch.message,
            "updated_at": switch.updated_at,
        })
    );
    Ok(())
}

/// How long the CLI tries to tell the nodes over the bus; they follow the
/// index within 5 s anyway.
const ANNOUNCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Publishes the switch on the bus: a hint that nodes follow at once.
async fn announce(redis_url: &str, switch: &Maintenance) {
    let msg = BusMessage::Maintenance {
        on: switch.enabled,
        message: switch.message.clone(),
    };
    let sent = tokio::time::timeout(ANNOUNCE_TIMEOUT, async {
        let bus = RedisBus::connect(redis_url, "cli").await?;
        bus.publish(topics::MAINTENANCE, msg).await?;
        anyhow::Ok(())
    })
    .await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "maintenance not announced on the bus; nodes follow the index within 5 s")
        }
        Err(_) => tracing::warn!(
            "maintenance not announced on the bus in time; nodes follow the index within 5 s"
        ),
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
