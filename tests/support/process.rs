//! `reel` as a child process: `reel serve`, started and waited for until
//! it listens, signalled, killed; and the one-shot commands (`reel site
//! create`, ...).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::Api;
use super::storage::TestStorage;
use super::tracker::{ev, Tracker, T0};

/// The `REEL_LOG` of a child: `info` when `TEST_LOG` is set, else `warn`.
fn child_log() -> &'static str {
    if std::env::var("TEST_LOG").is_ok() {
        "info"
    } else {
        "warn"
    }
}

/// A `reel serve` about to start: on a data dir and a storage, at
/// `127.0.0.1:0` with 2 workers unless [`Serve::env`] says otherwise.
pub struct Serve {
    cmd: Command,
}

impl Serve {
    /// Sets (or overrides) one environment variable of the node.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Serve {
        self.cmd.env(key, value);
        self
    }

    /// Removes one environment variable of the node (one the storage set,
    /// to give it another way).
    pub fn env_remove(mut self, key: &str) -> Serve {
        self.cmd.env_remove(key);
        self
    }

    /// Starts the node; returns once it listens and has drained whatever
    /// spool its data dir holds (the drain runs in the background).
    pub fn start(self) -> Proc {
        let node = self.start_listening();
        node.wait_recovered(Duration::from_secs(120));
        node
    }

    /// Starts the node; returns as soon as it listens, the drain of its
    /// data dir's spool maybe still running.
    pub fn start_listening(self) -> Proc {
        self.spawn(false)
    }

    /// Starts the node with its standard output and error (its logs)
    /// kept, for [`Proc::stop_and_output`]; returns once it listens and
    /// has drained its spool.
    pub fn start_capturing(self) -> Proc {
        let node = self.spawn(true);
        node.wait_recovered(Duration::from_secs(120));
        node
    }

    fn spawn(mut self, capture_stderr: bool) -> Proc {
        if capture_stderr {
            self.cmd.stderr(Stdio::piped());
        }
        let mut child = self.cmd.stdout(Stdio::piped()).spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(stderr) = child.stderr.take() {
            readers.push(keep_reading(BufReader::new(stderr), output.clone()));
        }
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        output.lock().unwrap().push_str(&line);
        let addr = line
            .trim()
            .strip_prefix("reel listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        // Keep reading, so that a later line never meets a closed pipe.
        readers.push(keep_reading(stdout, output.clone()));
        Proc {
            child,
            addr,
            output,
            readers,
        }
    }
}

/// Reads `from` to its end into `into` (standard output is a few lines;
/// standard error only when a test keeps it).
fn keep_reading(
    mut from: impl BufRead + Send + 'static,
    into: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut line = String::new();
        while matches!(from.read_line(&mut line), Ok(n) if n > 0) {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    })
}

/// A `reel serve` child process, killed when dropped.
pub struct Proc {
    pub child: Child,
    /// `HOST:PORT` it listens on.
    pub addr: String,
    /// What it printed (standard error too, with [`Serve::start_capturing`]).
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Proc {
    /// A node on `dir` and `storage`, to adjust and [`Serve::start`].
    pub fn serve(dir: &Path, storage: &TestStorage) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reel"));
        cmd.arg("serve")
            .envs(storage.env())
            .env("REEL_DATA_DIR", dir)
            .env("REEL_LISTEN", "127.0.0.1:0")
            .env("REEL_WORKERS", "2")
            .env("REEL_LOG", child_log());
        Serve { cmd }
    }

    /// `http://HOST:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ingest_url(&self, key: &str, visitor: &str) -> String {
        format!("ws://{}/v1/ingest?site={key}&visitor={visitor}", self.addr)
    }

    /// `GET path` over plain HTTP/1.0; the status and body, or `None` when
    /// the node does not answer within `limit`.
    pub fn get(&self, path: &str, limit: Duration) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(&self.addr).ok()?;
        conn.set_read_timeout(Some(limit)).ok()?;
        write!(conn, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).ok()?;
        let mut text = String::new();
        conn.read_to_string(&mut text).ok()?;
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    }

    /// The drain of the earlier run's spool, as `/readyz` reports it.
    pub fn recovery(&self) -> Value {
        let (_, body) = self
            .get("/readyz", Duration::from_secs(10))
            .expect("/readyz answers");
        serde_json::from_str::<Value>(&body).unwrap()["recovery"].clone()
    }

    /// Waits (at most `limit`) until the earlier run's spool is drained.
    pub fn wait_recovered(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let r = self.recovery();
            if r["state"] == "done" {
                return;
            }
            assert!(r["state"] != "failed", "the drain failed: {r}");
            assert!(Instant::now() < deadline, "no drain within {limit:?}: {r}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Stops the node (SIGTERM, then waits) and returns all it printed.
    pub fn stop_and_output(self) -> String {
        self.signal("-TERM");
        self.exit_output(Duration::from_secs(30)).1
    }

    /// Waits for exit (at most `limit`) and returns the status and all it
    /// printed, to the end of its output.
    pub fn exit_output(mut self, limit: Duration) -> (ExitStatus, String) {
        let status = self.wait_exit(limit);
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let out = self.output.lock().unwrap().clone();
        (status, out)
    }

    /// Sends `sig` (`-TERM`, ...).
    pub fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for exit, at most `limit`; returns the status.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `sig` to process `pid`.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

/// Runs `reel ARGS` on `dir` and `storage` to its end, with `stdin` as
/// its standard input.
fn run_cli(dir: &Path, storage: &TestStorage, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(args)
        .envs(storage.env())
        .env("REEL_DATA_DIR", dir)
        .env("REEL_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A command that reads nothing may have exited: a broken pipe is fine.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

/// As [`cli_lines`], with `stdin` as the command's standard input.
pub fn cli_stdin_lines(
    dir: &Path,
    storage: &TestStorage,
    args: &[&str],
    stdin: &str,
) -> (bool, Vec<Value>) {
    let out = run_cli(dir, storage, args, stdin);
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.success(), lines)
}

/// As [`cli`], with `stdin` as the command's standard input.
pub fn cli_stdin(dir: &Path, storage: &TestStorage, args: &[&str], stdin: &str) -> Value {
    let out = run_cli(dir, storage, args, stdin);
    assert!(
        out.status.success(),
        "reel {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `reel ARGS` on `dir` and `storage`; its output, one JSON value a
/// line, and whether it succeeded.
pub fn cli_lines(dir: &Path, storage: &TestStorage, args: &[&str]) -> (bool, Vec<Value>) {
    cli_stdin_lines(dir, storage, args, "")
}

/// Runs `reel ARGS` on `dir` and `storage`; its JSON output.
pub fn cli(dir: &Path, storage: &TestStorage, args: &[&str]) -> Value {
    cli_stdin(dir, storage, args, "")
}

/// A site (`site_id`, `site_key`) and an admin token, made with the CLI.
pub fn cli_site_and_token(dir: &Path, storage: &TestStorage, name: &str) -> (Value, String) {
    let site = cli(dir, storage, &["site", "create", "--name", name]);
    let token = cli(
        dir,
        storage,
        &["token", "create", "--name", "t", "--role", "admin"],
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    (site, token)
}

/// A port nothing listens on now, for a process that must keep its
/// address (nginx's upstreams, a node or server that restarts). Taken
/// below the kernel's ephemeral range when there is room, so that no
/// outgoing connection (to Postgres, S3, a node) can hold it meanwhile.
pub fn free_port() -> u16 {
    use rand::Rng;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(0);
    if ephemeral_start > 20_000 {
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let port = rng.gen_range(20_000..ephemeral_start);
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `n` distinct free ports.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let p = free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    ports
}

/// Recordings of people on `node` (site `key`), as the erasure tests start
/// from: one ended session per visitor in `ended`, each waited for until its
/// segment is stored, then a live session of `live` whose three batches are
/// acked but only in the spool. Returns the ended sessions in order, the
/// live tracker and its session.
pub async fn ended_and_live(
    node: &Proc,
    api: &Api,
    key: &str,
    ended: &[&str],
    live: &str,
) -> (Vec<String>, Tracker, String) {
    let mut sessions = Vec::new();
    for visitor in ended {
        let (mut t, s) = Tracker::open(&node.ingest_url(key, visitor), visitor).await;
        t.batch_acked(
            0,
            &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 1)],
        )
        .await;
        t.end(0).await;
        sessions.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for s in &sessions {
        while api.json(&format!("/api/v1/sessions/{s}")).await["segments"] != 1 {
            assert!(Instant::now() < deadline, "no segment of {s}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let (mut tracker, session) = Tracker::open(&node.ingest_url(key, live), live).await;
    for seq in 0..3 {
        tracker
            .batch_acked(seq, &[ev::click(T0 + seq as i64, 1)])
            .await;
    }
    (sessions, tracker, session)
}
