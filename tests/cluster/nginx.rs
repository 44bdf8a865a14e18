//! Failover through nginx: three `reel serve` processes behind nginx running
//! the repository's `deploy/nginx.conf`. A visitor's tabs meet on one node;
//! that node is SIGKILLed; the tabs reconnect through nginx, which moves the
//! visitor to another node, and continue the session from their last ack.
//! Once the killed node is back and has drained its spool, each tab's
//! recording is every batch exactly once, in order.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// How long a process may take to start or answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// nginx as the nodes see it (it connects to them from 127.0.0.1): their
/// `REEL_TRUSTED_PROXIES`.
const NGINX_AS_PROXY: &str = "127.0.0.1/32";

/// A `reel serve` child process named `id`, listening on a fixed address
/// (nginx's upstreams need fixed addresses).
struct ReelNode {
    id: String,
    proc: Proc,
}

impl ReelNode {
    /// Starts a node on `dir`; returns once it listens (after draining
    /// whatever spool `dir` holds).
    fn start(id: &str, addr: &str, dir: &Path, storage: &TestStorage) -> ReelNode {
        let proc = Proc::serve(dir, storage)
            .env("REEL_LISTEN", addr)
            .env("REEL_NODE_ID", id)
            .env("REEL_TRUSTED_PROXIES", NGINX_AS_PROXY)
            .start();
        assert_eq!(proc.addr, addr, "{id}: listening elsewhere");
        ReelNode {
            id: id.to_string(),
            proc,
        }
    }
}

/// An nginx master process (`daemon off`) on a config generated from
/// `deploy/nginx.conf`, everything it writes under its own directory.
struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// The nginx binary: `$NGINX`, else on `PATH`, else Debian's.
fn nginx_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NGINX") {
        return p.into();
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file());
    let bin = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    assert!(
        bin.is_file(),
        "nginx not found (set NGINX, or run scripts/services to install Debian's)"
    );
    bin
}

/// Directives whose first argument is a file or directory nginx writes.
const PATH_DIRECTIVES: &[&str] = &["pid", "error_log", "access_log", "proxy_cache_path"];
/// Temporary-file directories, which `deploy/nginx.conf` leaves at nginx's
/// built-in defaults.
const TEMP_PATHS: &[&str] = &[
    "client_body_temp_path",
    "proxy_temp_path",
    "fastcgi_temp_path",
    "uwsgi_temp_path",
    "scgi_temp_path",
];

/// `deploy/nginx.conf` for this test: each upstream's server list (between
/// `# reel nodes begin` and `# reel nodes end`) becomes its first `server`
/// line repeated once per node with only the address changed; `listen`
/// becomes `127.0.0.1:port`; every path nginx writes moves under `dir`;
/// `user` goes (the test's user runs the workers).
fn nginx_config(template: &str, nodes: &[String], port: u16, dir: &Path) -> String {
    let mut out = String::new();
    let mut in_nodes = false;
    let mut server_line: Option<String> = None;
    let (mut lists, mut listens) = (0, 0);
    for line in template.lines() {
        let trimmed = line.trim();
        let indent = &line[..line.len() - line.trim_start().len()];
        let directive = trimmed.split_whitespace().next().unwrap_or("");
        if in_nodes {
            if trimmed == "# reel nodes end" {
                let tpl = server_line
                    .take()
                    .expect("a `server` line between the reel nodes markers");
                for node in nodes {
                    out.push_str(&server_with_address(&tpl, node));
                    out.push('\n');
                }
                out.push_str(line);
                out.push('\n');
                in_nodes = false;
                lists += 1;
            } else if directive == "server" && server_line.is_none() {
                server_line = Some(line.to_string());
            }
            continue;
        }
        if trimmed == "# reel nodes begin" {
            in_nodes = true;
            out.push_str(line);
            out.push('\n');
            continue;
        }
        match directive {
            "user" => out.push_str(&format!("{indent}# {trimmed} (not in the test)")),
            "listen" => {
                listens += 1;
                out.push_str(&format!("{indent}listen 127.0.0.1:{port};"));
            }
            d if PATH_DIRECTIVES.contains(&d) => {
                out.push_str(&relocate(line, dir));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
        if trimmed == "http {" {
            for t in TEMP_PATHS {
                out.push_str(&format!("    {t} {};\n", dir.join(t).display()));
            }
        }
    }
    assert!(!in_nodes, "`# reel nodes begin` without its end");
    assert_eq!(lists, 2, "deploy/nginx.conf: two upstream server lists");
    assert_eq!(listens, 1, "deploy/nginx.conf: one listen line");
    out
}

/// A `server ADDR params;` line with another address.
fn server_with_address(line: &str, addr: &str) -> String {
    let indent = &line[..line.len() - line.trim_start().len()];
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("server"));
    let old = words.next().expect("server address");
    let rest: Vec<&str> = words.collect();
    if old.ends_with(';') {
        format!("{indent}server {addr};")
    } else {
        format!("{indent}server {addr} {}", rest.join(" "))
    }
}

/// Moves a directive's path argument into `dir`, keeping its file name.
fn relocate(line: &str, dir: &Path) -> String {
    let indent = &line[..line.len() - line.trim_start().len()];
    let mut words = line.split_whitespace();
    let directive = words.next().unwrap();
    let arg = words.next().unwrap();
    let rest: Vec<&str> = words.collect();
    let (path, semi) = match arg.strip_suffix(';') {
        Some(p) => (p, ";"),
        None => (arg, ""),
    };
    if path == "off" || path == "stderr" {
        return line.to_string();
    }
    let name = Path::new(path).file_name().unwrap().to_string_lossy();
    let new = dir.join(format!("{directive}-{name}"));
    let mut s = format!("{indent}{directive} {}{semi}", new.display());
    if !rest.is_empty() {
        s.push(' ');
        s.push_str(&rest.join(" "));
    }
    s
}

impl Nginx {
    /// Generates the config, checks it with `nginx -t`, starts nginx and
    /// waits until it answers `/healthz` (from some node).
    async fn start(nodes: &[String]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        // Worker processes may run as another user than the master.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf"),
        )
        .unwrap();
        let port = free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, nginx_config(&template, nodes, port, dir.path())).unwrap();
        let bin = nginx_bin();
        let prefix = format!("{}/", dir.path().display());
        let check = Command::new(&bin)
            .arg("-t")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(&prefix)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "nginx -t on the config generated from deploy/nginx.conf:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(&prefix)
            .arg("-g")
            .arg("daemon off;")
            .spawn()
            .unwrap();
        let mut nginx = Nginx { child, port, dir };
        let base = nginx.base();
        wait_healthy(
            &reqwest::Client::new(),
            &base,
            "nginx",
            START_TIMEOUT,
            || {
                if let Some(status) = nginx.child.try_wait().unwrap() {
                    panic!("nginx exited at start: {status}\n{}", nginx.error_log());
                }
            },
        )
        .await;
        nginx
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn ingest_url(&self, key: &str, visitor: &str) -> String {
        format!(
            "ws://127.0.0.1:{}/v1/ingest?site={key}&visitor={visitor}",
            self.port
        )
    }

    fn error_log(&self) -> String {
        let mut text = String::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("error_log") {
                text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        text
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("nginx error log:\n{}", self.error_log());
        }
        // SIGTERM: the master stops its workers, then exits (SIGKILL would
        // leave the workers running).
        if self.child.try_wait().ok().flatten().is_none() {
            signal(self.child.id(), "-TERM");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A gauge or counter without labels from a node's `/metrics`.
async fn metric(http: &reqwest::Client, addr: &str, name: &str) -> f64 {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("{addr}: no {name} in /metrics"))
}

/// The one node that holds the live session with `conns` ingest
/// connections, no other node holding any; polls, bounded.
async fn holder(http: &reqwest::Client, nodes: &[&ReelNode], conns: f64) -> usize {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    loop {
        let mut seen = Vec::new();
        for n in nodes {
            let live = metric(http, &n.proc.addr, "reel_live_sessions").await;
            let open = metric(http, &n.proc.addr, "reel_open_connections").await;
            seen.push((n.id.clone(), live, open));
        }
        let holders: Vec<usize> = (0..seen.len()).filter(|&i| seen[i].1 > 0.0).collect();
        if let [h] = holders[..] {
            let others_idle = seen
                .iter()
                .enumerate()
                .all(|(i, s)| i == h || (s.1 == 0.0 && s.2 == 0.0));
            if seen[h].1 == 1.0 && seen[h].2 == conns && others_idle {
                return h;
            }
        }
        assert!(
            Instant::now() < deadline,
            "expected one node with the session and {conns} connections, \
             others idle; (node, live sessions, open connections): {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Batch `seq` of tab `tab` (tabs differ in text and timestamps).
fn batch(tab: u32, seq: u64) -> Vec<String> {
    let ts = T0 + tab as i64 * 1_000_000 + seq as i64 * 100;
    vec![
        ev::full_snapshot(ts, &format!("tab {tab} page {seq}")),
        ev::click(ts + 1, seq as u32),
        ev::input(ts + 2, 4, "*"),
    ]
}

/// Sends batches `seqs` of `tab` without waiting, then reads acks (one ack
/// may cover several batches) until the last is acked.
async fn send_pipelined(t: &mut Tracker, tab: u32, seqs: Range<u64>) {
    for seq in seqs.clone() {
        t.send_batch(seq, &batch(tab, seq)).await;
    }
    let last = seqs.end - 1;
    let mut acked: Option<u64> = None;
    while acked != Some(last) {
        let m = t.recv().await;
        assert_eq!(m["t"], "ack", "{m}");
        let seq = m["seq"].as_u64().unwrap();
        assert!(
            seqs.contains(&seq) && acked < Some(seq),
            "ack {seq} after {acked:?} while sending {seqs:?}"
        );
        acked = Some(seq);
    }
}

/// Sends batches `seqs` of `tab`: the first few one by one, each waiting
/// for its ack, the rest pipelined.
async fn send_batches(t: &mut Tracker, tab: u32, seqs: Range<u64>) {
    let split = (seqs.start + 10).min(seqs.end);
    for seq in seqs.start..split {
        t.batch_acked(seq, &batch(tab, seq)).await;
    }
    if split < seqs.end {
        send_pipelined(t, tab, split..seqs.end).await;
    }
}

/// Waits for the connection to drop (its node died): nginx closes it, with
/// or without a close frame.
async fn expect_dropped(t: &mut Tracker) {
    loop {
        let msg = tokio::time::timeout(REPLY_TIMEOUT, t.ws.next())
            .await
            .expect("the connection stayed open after its node was killed");
        match msg {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
            Some(Ok(Message::Text(m))) => panic!("unexpected message {m}"),
            Some(Ok(_)) => continue,
        }
    }
}

/// GET through nginx, polled (bounded) until the tab's events are `want`.
/// Anything that is not a prefix of `want` fails at once.
async fn wait_events(api: &Api, session: &str, tab: &str, want: &str) {
    let path = format!("/api/v1/sessions/{session}/events?tab={tab}");
    let deadline = Instant::now() + REPLY_TIMEOUT;
    loop {
        let got = api.text(&path).await;
        if got == want {
            return;
        }
        assert!(
            want.starts_with(&got) && Instant::now() < deadline,
            "{tab}: {} lines stored, {} expected; first difference at line {:?}",
            got.lines().count(),
            want.lines().count(),
            got.lines().zip(want.lines()).position(|(a, b)| a != b)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Three nodes on one fresh Postgres database and S3 bucket, each with its
/// own data dir, behind nginx; a site and an admin token.
struct Cluster {
    // Fields drop in order: nginx, then the nodes, then their data dirs,
    // and the database last.
    nginx: Nginx,
    /// `None` while a node is down.
    nodes: Vec<Option<ReelNode>>,
    dirs: Vec<tempfile::TempDir>,
    ids: [&'static str; 3],
    addrs: Vec<String>,
    key: String,
    /// The API through nginx, with the admin token.
    api: Api,
    storage: TestStorage,
}

impl Cluster {
    async fn start() -> Cluster {
        init_logs();
        let storage = TestStorage::postgres_s3().await;
        let cli_dir = tempfile::tempdir().unwrap();
        let (site, token) = cli_site_and_token(cli_dir.path(), &storage, "cluster");
        let key = site["site_key"].as_str().unwrap().to_string();
        // One after the other: the first creates the bucket.
        let ids = ["node-a", "node-b", "node-c"];
        let dirs: Vec<tempfile::TempDir> =
            ids.iter().map(|_| tempfile::tempdir().unwrap()).collect();
        let addrs: Vec<String> = free_ports(ids.len())
            .into_iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let nodes: Vec<Option<ReelNode>> = (0..ids.len())
            .map(|i| Some(ReelNode::start(ids[i], &addrs[i], dirs[i].path(), &storage)))
            .collect();
        let nginx = Nginx::start(&addrs).await;
        eprintln!("nodes {ids:?} at {addrs:?}, nginx at {}", nginx.base());
        Cluster {
            ids,
            addrs,
            dirs,
            nodes,
            api: Api::new(nginx.base(), token),
            nginx,
            key,
            storage,
        }
    }

    fn ingest_url(&self, visitor: &str) -> String {
        self.nginx.ingest_url(&self.key, visitor)
    }

    /// The node (index) holding the one live session, with `conns` ingest
    /// connections, every other node idle.
    async fn holder(&self, conns: f64) -> usize {
        let live: Vec<(usize, &ReelNode)> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((i, n.as_ref()?)))
            .collect();
        let refs: Vec<&ReelNode> = live.iter().map(|(_, n)| *n).collect();
        let h = holder(&self.api.http, &refs, conns).await;
        live[h].0
    }

    /// `kill -9` of node `i`; it stays down until [`Cluster::restart`].
    fn kill(&mut self, i: usize) {
        let mut node = self.nodes[i].take().expect("node is up");
        node.proc.sigkill();
    }

    /// Starts node `i` again on its own address and data dir (it drains its
    /// spool before it listens) and waits for its `/healthz`.
    async fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} is up");
        let node = ReelNode::start(
            self.ids[i],
            &self.addrs[i],
            self.dirs[i].path(),
            &self.storage,
        );
        wait_healthy(
            &self.api.http,
            &node.proc.base(),
            self.ids[i],
            START_TIMEOUT,
            || {},
        )
        .await;
        self.nodes[i] = Some(node);
    }

    /// Polls (bounded) until the tab's events, read through nginx, are
    /// batches `0..batches` of `tab`.
    async fn expect_tab(&self, session: &str, tab_id: &str, tab: u32, batches: u64) {
        let want = ndjson(&(0..batches).flat_map(|s| batch(tab, s)).collect::<Vec<_>>());
        wait_events(&self.api, session, tab_id, &want).await;
    }
}

#[tokio::test]
async fn failover_through_nginx_continues_the_session() {
    let mut c = Cluster::start().await;

    // Two tabs of one visitor, through nginx, meet on one node.
    let visitor = "visitor-failover";
    let url = c.ingest_url(visitor);
    let mut t1 = Tracker::connect(&url, None).await.unwrap();
    let w = t1.hello(visitor, None, "tab-1", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    assert_eq!(w["next_seq"], 0);
    let mut t2 = Tracker::connect(&url, None).await.unwrap();
    let w = t2.hello(visitor, Some(&session), "tab-2", None).await;
    assert_eq!(w["session"], session.as_str());
    send_batches(&mut t1, 1, 0..30).await;
    send_batches(&mut t2, 2, 0..5).await;
    let victim = c.holder(2.0).await;
    eprintln!(
        "session {session} on {}, both tabs; killing it",
        c.ids[victim]
    );

    // kill -9 the node holding the session.
    let killed_at = Instant::now();
    c.kill(victim);
    expect_dropped(&mut t1).await;
    let dropped_after = killed_at.elapsed();
    // Tab 1 reconnects through nginx and continues after its last ack.
    let mut t1 = Tracker::connect(&url, None).await.unwrap_or_else(|r| {
        panic!("reconnect through nginx refused: {r:?}");
    });
    let w = t1.hello(visitor, Some(&session), "tab-1", Some(29)).await;
    let failover = killed_at.elapsed();
    assert_eq!(w["session"], session.as_str(), "{w}");
    assert_eq!(w["tab"], "tab-1", "{w}");
    assert_eq!(w["next_seq"], 30, "{w}");
    // Tab 2 too, and meets tab 1 on the same node.
    expect_dropped(&mut t2).await;
    let mut t2 = Tracker::connect(&url, None).await.unwrap();
    let w = t2.hello(visitor, Some(&session), "tab-2", Some(4)).await;
    assert_eq!(w["session"], session.as_str(), "{w}");
    assert_eq!(w["next_seq"], 5, "{w}");
    let successor = c.holder(2.0).await;
    eprintln!(
        "failover {} -> {}: connection dropped {:.1} ms after kill -9, \
         welcome on the new node {:.1} ms after kill -9",
        c.ids[victim],
        c.ids[successor],
        dropped_after.as_secs_f64() * 1e3,
        failover.as_secs_f64() * 1e3
    );
    send_batches(&mut t1, 1, 30..60).await;
    send_batches(&mut t2, 2, 5..10).await;
    t1.end(59).await;
    t2.end(9).await;
    t1.close().await;
    t2.close().await;

    // The killed node comes back on its own data dir and drains its spool
    // (batches 0..29 of tab 1 and 0..4 of tab 2) before it serves.
    c.restart(victim).await;

    // Every batch of each tab exactly once, in order, read through nginx.
    c.expect_tab(&session, "tab-1", 1, 60).await;
    c.expect_tab(&session, "tab-2", 2, 10).await;
    eprintln!("tab-1: 60 batches, tab-2: 10 batches, each exactly once and in order");
}

/// The node dies after fsyncing batches 30..39 but before their acks reach
/// the tracker (here: the tracker got them, and says `acked: 29` as if they
/// were lost with the connection). The new node cannot know about them, so
/// the tracker resends 30..; the killed node, restarted while the new node
/// still buffers the tab (the usual case: a restart within the 60 s segment
/// age), drains 30..39 from its spool as well.
///
/// Regression test, named for what broke: the drained segment (seqs 0..39)
/// and the new node's segment (30..59) overlapped, and the events API
/// returned batches 30..39 twice. A segment commit now drops the leading
/// batches a stored segment of the tab already holds.
#[tokio::test]
async fn failover_with_acks_lost_in_flight() {
    let mut c = Cluster::start().await;
    let visitor = "visitor-lost-acks";
    let url = c.ingest_url(visitor);
    let mut t = Tracker::connect(&url, None).await.unwrap();
    let session = t.hello(visitor, None, "tab-1", None).await["session"]
        .as_str()
        .unwrap()
        .to_string();
    send_batches(&mut t, 1, 0..40).await;
    let victim = c.holder(1.0).await;
    c.kill(victim);
    expect_dropped(&mut t).await;
    let mut t = Tracker::connect(&url, None).await.unwrap();
    let w = t.hello(visitor, Some(&session), "tab-1", Some(29)).await;
    assert_eq!(w["session"], session.as_str(), "{w}");
    assert_eq!(w["next_seq"], 30, "{w}");
    send_batches(&mut t, 1, 30..60).await;
    // Restarted while the tab is still open on the new node.
    c.restart(victim).await;
    t.end(59).await;
    t.close().await;
    c.expect_tab(&session, "tab-1", 1, 60).await;
}

/// A client on 127.0.0.2 (another loopback address than nginx's) is seen
/// by the node behind nginx as 127.0.0.2: nginx appends it to
/// `X-Forwarded-For`, the node trusts nginx's 127.0.0.1 and walks the
/// header from the right, so what the client wrote into `X-Forwarded-For`
/// or `Forwarded` itself is not believed. And nginx does not route the
/// per-node `/metrics` and `/readyz`.
#[tokio::test]
async fn nginx_forwards_the_client_address() {
    let c = Cluster::start().await;
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let res = client
        .post(format!("{}/api/v1/sites", c.nginx.base()))
        .bearer_auth(&c.api.token)
        .header("x-forwarded-for", "198.51.100.1")
        .header("forwarded", "for=198.51.100.2")
        .json(&serde_json::json!({ "name": "through nginx" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let site_id = res.json::<serde_json::Value>().await.unwrap()["id"].clone();
    let audit = c.api.json("/api/v1/audit").await;
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target"] == format!("site:{site_id}"))
        .unwrap_or_else(|| panic!("no audit entry for site {site_id}: {audit}"))
        .clone();
    assert_eq!(entry["ip"], "127.0.0.2", "{entry}");

    for path in ["/metrics", "/readyz"] {
        let res = client
            .get(format!("{}{path}", c.nginx.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path} through nginx");
    }
}

#[test]
fn config_template_keeps_the_repos_server_parameters() {
    let template =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf"))
            .unwrap();
    let nodes = vec!["127.0.0.1:1001".to_string(), "127.0.0.1:1002".to_string()];
    let conf = nginx_config(&template, &nodes, 9999, Path::new("/tmp/x"));
    assert!(conf.contains("hash $arg_visitor consistent;"));
    assert!(conf.contains("listen 127.0.0.1:9999;"));
    let servers: Vec<&str> = conf
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server 127.0.0.1:"))
        .collect();
    // Two upstreams, each with both nodes and the repo's parameters.
    assert_eq!(servers.len(), 4, "{servers:?}");
    for s in &servers {
        assert!(s.contains("max_fails="), "{s}");
    }
    assert!(!conf.contains("10.0.0.11:8080"));
    assert!(
        !conf.contains("/var/"),
        "a path outside the test's directory"
    );
    assert!(
        !conf.contains("/run/"),
        "a path outside the test's directory"
    );
}
