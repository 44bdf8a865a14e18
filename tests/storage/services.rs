//! Real services a storage test owns: a Postgres server of its own
//! (initdb in a temp dir, its own port), and a TCP proxy in front of the
//! S3-compatible server that the test can cut and restore.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::support::{free_port, DEFAULT_S3_ENDPOINT};

/// A Postgres server started by the test: `initdb` in a temp dir, listening
/// on its own port, trusting local connections. Stopped when dropped.
pub struct OwnPostgres {
    dir: TempDir,
    bin: PathBuf,
    pub port: u16,
}

/// Where Postgres's server programs are: `REEL_TEST_PG_BIN`, else the
/// newest `/usr/lib/postgresql/*/bin` (Debian's layout).
fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("REEL_TEST_PG_BIN") {
        return dir.into();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Postgres server programs in /usr/lib/postgresql (or set REEL_TEST_PG_BIN)")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found
        .pop()
        .expect("no initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl OwnPostgres {
    /// Runs a Postgres program; as the `postgres` user when the test runs
    /// as root (Postgres refuses to run as root).
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// initdb, then start.
    pub fn start() -> OwnPostgres {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let out = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(out.success());
        }
        let pg = OwnPostgres {
            dir,
            bin: pg_bin(),
            port: free_port(),
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        pg.resume();
        pg
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn resume(&self) {
        let data = self.data();
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &data, "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    /// A URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `db`.
    pub async fn create_db(&self, db: &str) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let path = self.bin.join("pg_ctl");
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "stop"]).output();
    }
}

/// A TCP proxy to `target` that the test can cut (open connections are
/// closed and new ones are dropped at once) and restore.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut list = conns2.lock().unwrap();
                list.retain(|h| !h.is_finished());
                list.push(task.abort_handle());
            }
        });
        Proxy { addr, up, conns }
    }

    /// Cuts the target off.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The S3 test server's address, from `REEL_TEST_S3_ENDPOINT`.
pub fn s3_target() -> SocketAddr {
    let endpoint =
        std::env::var("REEL_TEST_S3_ENDPOINT").unwrap_or_else(|_| DEFAULT_S3_ENDPOINT.into());
    let hostport = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    std::net::ToSocketAddrs::to_socket_addrs(&hostport)
        .unwrap()
        .next()
        .unwrap()
}
