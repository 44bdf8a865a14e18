//! A `redis-server` of the test's own, on its own port, keeping nothing on
//! disk: to stop and start again (a Redis outage), or to require a password.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct OwnRedis {
    child: Child,
    pub port: u16,
    /// Its `requirepass`, if any.
    password: Option<String>,
}

impl OwnRedis {
    pub fn start_on(port: u16) -> OwnRedis {
        OwnRedis::start(port, None)
    }

    /// A server that refuses every command until `AUTH password`.
    pub fn start_with_password(port: u16, password: &str) -> OwnRedis {
        OwnRedis::start(port, Some(password))
    }

    fn start(port: u16, password: Option<&str>) -> OwnRedis {
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        if let Some(password) = password {
            cmd.args(["--requirepass", password]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis {
            child,
            port,
            password: password.map(str::to_owned),
        }
    }

    /// Its URL, with the password when it has one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
