//! The `reel` command line (PROTOCOL.md §3).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::accounts::{normalize_email, valid_email};
use crate::app::{open_index, Node};
use crate::config::Config;
use crate::index::{SqlIndex, DEFAULT_ORG};
use crate::redis::RedisBus;
use reel_actors::traits::{topics, Bus, BusMessage, Maintenance};
use reel_protocol::accounts::{Password, Role, MAX_TOKEN_DAYS};
use reel_protocol::flags::{Flag, FlagInfo, FlagRule, FlagScope};

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
        /// Serve the demo shop at /demo/ (a "Demo shop" site) and print the
        /// demo owner's email and a fresh password to sign in with.
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
    /// Manage people (accounts of the dashboard).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Switch maintenance for every node of this database: the operator's
    /// switch, not an organisation's. Prints the state as JSON.
    Maintenance {
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
    /// Feature flags (docs/operations.md, "Feature flags"): the operator's
    /// rules, for every node of this database (each follows within 5 s).
    Flag {
        #[command(subcommand)]
        command: FlagCommand,
    },
    /// Writes storage refused for their content, kept on this node's disk
    /// (docs/operations.md, "Writes storage refuses").
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
    /// Retention (PROTOCOL.md §6) on the configured storage.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Erases a person's sessions on a site (PROTOCOL.md §6) now, on the
    /// configured storage, and prints the receipt as JSON. A job stopped
    /// half-way (kill -9) is resumed by running it again or by any node.
    Erase {
        #[arg(long)]
        site: i64,
        #[arg(
            long,
            conflicts_with = "visitor_id",
            required_unless_present = "visitor_id"
        )]
        user_id: Option<String>,
        #[arg(long)]
        visitor_id: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// One pass now: deletes every unpinned session older than its site's
    /// `retention_days`, and finishes deletions that stopped half-way.
    /// Prints `{"sessions":N,"objects":N}`.
    Run,
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

/// Where a flag rule applies: `--org ID`, `--site ID`, or neither (the
/// global setting).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct FlagScopeArgs {
    /// An organisation's override.
    #[arg(long, conflicts_with = "site")]
    pub org: Option<i64>,
    /// A site's override (wins over its organisation's).
    #[arg(long)]
    pub site: Option<i64>,
}

impl FlagScopeArgs {
    fn scope(self) -> FlagScope {
        match (self.org, self.site) {
            (_, Some(site)) => FlagScope::Site(site),
            (Some(org), None) => FlagScope::Org(org),
            (None, None) => FlagScope::Global,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum FlagCommand {
    /// Sets a flag's rule: `on`, `off` or a percentage of sessions (`25`
    /// or `25%`, stable per session). Prints the flag as `list` does.
    Set {
        /// The flag's name (`reel flag list` shows them).
        name: String,
        #[command(flatten)]
        scope: FlagScopeArgs,
        /// `on`, `off` or a percentage from 0 to 100.
        #[arg(allow_hyphen_values = true)]
        rule: String,
    },
    /// Removes a rule (the next scope's, or the default, decides again).
    Clear {
        name: String,
        #[command(flatten)]
        scope: FlagScopeArgs,
    },
    /// Prints every flag as JSON: its default, description and rules.
    List,
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

/// A role in an organisation (PROTOCOL.md §5).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Owner => Role::Owner,
            RoleArg::Admin => Role::Admin,
            RoleArg::Member => Role::Member,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token; prints {"id":...,"token":...}. Shown once,
    /// stored hashed.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "member")]
        role: RoleArg,
        /// The token stops working after this many days; default never.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TOKEN_DAYS)))]
        expires_in_days: Option<u32>,
        #[arg(long, default_value = DEFAULT_ORG)]
        org: String,
    },
    /// Prints one JSON line per token of every organisation (never the
    /// token itself): id, name, role, created_at, expires_at,
    /// revoked_at.
    List,
    /// Revokes a token at once (its open live sockets close within 10 s);
    /// prints {"revoked":ID}.
    Revoke { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a person with a role in an organisation (the first owner);
    /// reads the password (at least 10 characters) from the first line of
    /// standard input; prints {"user_id":N}.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long, default_value = DEFAULT_ORG)]
        org: String,
        #[arg(long, default_value = "")]
        name: String,
    },
}

/// Runs a command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if matches!(cli.command, Command::Serve { .. }) {
        // Known before telemetry starts: traces name the node.
        config.node_id.get_or_insert_with(crate::app::new_node_id);
    }
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
        Command::Token { command } => token(&config, command).await,
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    role,
                    org,
                    name,
                },
        } => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let password = Password::new(line.trim_end_matches(['\n', '\r']));
            let index = open_index(&config).await?;
            index.migrate().await?;
            let id = create_user(&index, &org, &email, &name, role.into(), &password).await?;
            println!("{}", serde_json::json!({ "user_id": id }));
            Ok(())
        }
        Command::Maintenance { command } => maintenance(&config, command).await,
        Command::Flag { command } => flag(&config, command).await,
        Command::DeadLetters { command } => dead_letters(&config, command).await,
        Command::Retention {
            command: RetentionCommand::Run,
        } => {
            let lifecycle = offline_lifecycle(&config).await?;
            let done = lifecycle
                .retention_pass(reel_actors::now_ms())
                .await
                .context("retention pass")?;
            println!(
                "{}",
                serde_json::json!({"sessions": done.sessions, "objects": done.objects})
            );
            Ok(())
        }
        Command::Erase {
            site,
            user_id,
            visitor_id,
        } => {
            let person = reel_protocol::lifecycle::EraseRequest {
                user_id,
                visitor_id,
            }
            .person()?;
            let lifecycle = offline_lifecycle(&config).await?;
            let index = &lifecycle.index;
            let org_id = index
                .sites_changed_since(0)
                .await?
                .into_iter()
                .find(|s| s.id == site)
                .map(|s| s.org_id)
                .ok_or_else(|| anyhow::anyhow!("no site {site}"))?;
            let id = index.create_erasure(org_id, site, &person).await?;
            lifecycle
                .run_pending_erasures()
                .await
                .context("erasure stopped; run again to resume it")?;
            let receipt = index
                .erasure(org_id, &id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("erasure {id} vanished"))?;
            println!("{}", serde_json::json!({"id": id, "receipt": receipt}));
            Ok(())
        }
    }
}

/// Lifecycle work of a command on the configured storage. Deleted
/// sessions are announced on the cluster's Redis bus when one is
/// configured (nodes end them if live); else on this process's own (a
/// node that is not told still refuses their writes: the tombstone).
async fn offline_lifecycle(config: &Config) -> anyhow::Result<reel_actors::lifecycle::Lifecycle> {
    let index = open_index(config).await?;
    index.migrate().await?;
    let bus: Arc<dyn Bus> = match config.redis_url.as_ref() {
        Some(url) => Arc::new(RedisBus::connect(url.expose(), "cli").await?),
        None => Arc::new(reel_actors::bus::InProcessBus::default()),
    };
    Ok(reel_actors::lifecycle::Lifecycle {
        index: index.into_dyn(),
        blob: crate::app::open_blob_store(config).await?,
        bus,
        node_id: format!("cli-{}", std::process::id()),
    })
}

/// `reel token create|list|revoke`.
async fn token(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let index = open_index(config).await?;
    index.migrate().await?;
    match command {
        TokenCommand::Create {
            name,
            role,
            expires_in_days,
            org,
        } => {
            let (id, token) = index
                .create_token(&org, &name, Role::from(role).as_str(), expires_in_days)
                .await?;
            println!("{}", serde_json::json!({"id": id, "token": token}));
        }
        TokenCommand::List => {
            for t in index.accounts().tokens(None).await? {
                println!("{}", serde_json::to_string(&t)?);
            }
        }
        TokenCommand::Revoke { id } => {
            if !index
                .accounts()
                .revoke_token(None, id, reel_actors::now_ms())
                .await?
            {
                anyhow::bail!("no token {id} that is not revoked already");
            }
            println!("{}", serde_json::json!({ "revoked": id }));
        }
    }
    Ok(())
}

/// Creates a person with `role` in `org` (created on first use); returns
/// their id.
async fn create_user(
    index: &SqlIndex,
    org: &str,
    email: &str,
    name: &str,
    role: Role,
    password: &Password,
) -> anyhow::Result<i64> {
    let email = normalize_email(email);
    if !valid_email(&email) {
        anyhow::bail!("{email:?} is not an email address");
    }
    password
        .check_strength()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = crate::accounts::password::hash(password).await?;
    let accounts = index.accounts();
    let org_id = accounts.org_by_name(org).await?;
    accounts
        .create_user(org_id, &email, name, &hash, role, None)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{email} has an account already"))
}

/// The demo owner (`reel serve --demo`): created on first start; each
/// start gives it a fresh random password, printed once (only its hash is
/// stored, so an earlier one cannot be shown again).
async fn demo_owner(index: &SqlIndex) -> anyhow::Result<(String, Password)> {
    let password = Password::new(crate::accounts::new_secret_id());
    let hash = crate::accounts::password::hash(&password).await?;
    let accounts = index.accounts();
    let org_id = accounts.org_by_name(DEFAULT_ORG).await?;
    let created = accounts
        .create_user(
            org_id,
            DEMO_OWNER_EMAIL,
            "Demo owner",
            &hash,
            Role::Owner,
            None,
        )
        .await?;
    if created.is_none() {
        accounts.set_password(DEMO_OWNER_EMAIL, &hash).await?;
    }
    Ok((DEMO_OWNER_EMAIL.to_owned(), password))
}

/// The demo owner's email.
pub const DEMO_OWNER_EMAIL: &str = "demo@reel.localhost";

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
    hint(redis_url, topics::MAINTENANCE, msg, "maintenance").await;
}

/// Publishes `msg` on `topic` of the Redis bus, a hint nodes follow at
/// once; when that fails, they follow the index within 5 s anyway.
async fn hint(redis_url: &str, topic: &str, msg: BusMessage, what: &str) {
    let sent = tokio::time::timeout(ANNOUNCE_TIMEOUT, async {
        let bus = RedisBus::connect(redis_url, "cli").await?;
        bus.publish(topic, msg).await?;
        anyhow::Ok(())
    })
    .await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, what, "not announced on the bus; nodes follow the index within 5 s")
        }
        Err(_) => tracing::warn!(
            what,
            "not announced on the bus in time; nodes follow the index within 5 s"
        ),
    }
}

/// The flag named `name`, or an error that lists the known ones.
fn known_flag(name: &str) -> anyhow::Result<Flag> {
    Flag::parse(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown flag {name:?}; the flags are: {}",
            Flag::known_names()
        )
    })
}

/// `reel flag set|clear|list`: writes (or reads) the rules in the index,
/// which every node polls; with a Redis bus configured, also tells the
/// nodes at once.
async fn flag(config: &Config, command: FlagCommand) -> anyhow::Result<()> {
    // Arguments are checked before anything is opened.
    let change = match &command {
        FlagCommand::Set { name, scope, rule } => Some((
            known_flag(name)?,
            scope.scope(),
            Some(FlagRule::parse(rule)?),
        )),
        FlagCommand::Clear { name, scope } => Some((known_flag(name)?, scope.scope(), None)),
        FlagCommand::List => None,
    };
    let index = open_index(config).await?;
    index.migrate().await?;
    if let Some((flag, scope, rule)) = change {
        if !index.flags().scope_exists(scope).await? {
            anyhow::bail!("no {}", scope_name(scope));
        }
        match rule {
            Some(rule) => {
                index
                    .flags()
                    .set_flag_rule(flag, scope, rule, reel_actors::now_ms())
                    .await?
            }
            None => {
                if !index.flags().clear_flag_rule(flag, scope).await? {
                    anyhow::bail!("{flag} has no {} rule to clear", scope_name(scope));
                }
            }
        }
        if let Some(url) = &config.redis_url {
            hint(
                url.expose(),
                topics::FLAGS,
                BusMessage::FlagsChanged,
                "flags",
            )
            .await;
        }
    }
    let rules = index.flags().flag_rules().await?;
    let only = change.map(|(f, _, _)| f);
    let infos: Vec<FlagInfo> = Flag::ALL
        .iter()
        .filter(|f| only.is_none_or(|o| o == **f))
        .map(|&f| FlagInfo {
            name: f,
            default: f.default_on(),
            description: f.description().to_owned(),
            rules: rules.iter().filter(|r| r.flag == f).copied().collect(),
        })
        .collect();
    match only {
        Some(_) => println!("{}", serde_json::to_string(&infos[0])?),
        None => println!("{}", serde_json::json!({ "flags": infos })),
    }
    Ok(())
}

/// `global`, `org 3`, `site 7`.
fn scope_name(scope: FlagScope) -> String {
    match scope {
        FlagScope::Global => "global".to_owned(),
        FlagScope::Org(id) => format!("org {id}"),
        FlagScope::Site(id) => format!("site {id}"),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let owner = if config.demo {
        let index = open_index(&config).await?;
        index.migrate().await?;
        let owner = demo_owner(&index).await?;
        index.close().await;
        Some(owner)
    } else {
        None
    };
    let mut node = Node::start(config).await?;
    println!("reel listening on http://{}", node.addr);
    if let Some(admin) = node.admin_addr {
        println!("reel admin listening on http://{admin}");
    }
    if let Some((email, password)) = owner {
        println!("demo shop:  http://{}/demo/", node.addr);
        println!("dashboard:  http://{}/app/", node.addr);
        // The one place a password is printed: the operator's terminal, on
        // standard output (never a log line).
        println!("sign in as {email} with the password {}", password.expose());
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
