//! HTTP clients of a node (or of nginx in front of nodes): the API with a
//! bearer token, and the health routes.

use std::time::{Duration, Instant};

use serde_json::Value;

/// The replay API at `base` (`http://HOST:PORT`), as `token`.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.into(),
            token: token.into(),
        }
    }

    /// GET `path`, whatever the answer.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_as(path, &self.token).await
    }

    /// GET `path` with another token.
    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// GET `path`, a success, as JSON.
    pub async fn json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// `method` `path` with a JSON `body` as `token`: the status and the
    /// JSON answer (`null` when it has none).
    pub async fn send_as(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (u16, Value) {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// `method` `path` with a JSON `body`: the status and the JSON answer.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        self.send_as(method, path, &self.token, body).await
    }

    /// GET `path`, a 200, as text.
    pub async fn text(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }
}

/// `/readyz` of the node at `base`: status and body.
pub async fn readyz(http: &reqwest::Client, base: &str) -> (u16, Value) {
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Does `/healthz` at `base` answer 200 within 2 s?
pub async fn healthy(http: &reqwest::Client, base: &str) -> bool {
    let res = http
        .get(format!("{base}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    matches!(&res, Ok(r) if r.status() == 200)
}

/// Polls `/healthz` at `base` until it answers 200, at most `limit`;
/// `check` runs before each try (to fail early when a process died).
pub async fn wait_healthy(
    http: &reqwest::Client,
    base: &str,
    what: &str,
    limit: Duration,
    mut check: impl FnMut(),
) {
    let deadline = Instant::now() + limit;
    loop {
        check();
        if healthy(http, base).await {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not answer /healthz");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
