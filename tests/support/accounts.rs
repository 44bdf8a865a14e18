//! Accounts (PROTOCOL.md §5) for tests: people made in a node's index,
//! signing in, and requests with a cookie or a bearer token.

use reel::accounts::AccountStore;
use reel_protocol::accounts::{Password, Role, SESSION_COOKIE};
use serde_json::Value;

use super::app::TestNode;

/// The password every test person gets, derived from the email so that a
/// log scan knows what to look for. Long enough (10+ characters).
pub fn password_for(email: &str) -> String {
    format!("pw-{}-Sekr1t", email.replace('@', "-at-"))
}

/// How a test request authenticates.
#[derive(Debug, Clone)]
pub enum Cred {
    None,
    Bearer(String),
    /// The `reel_session=...` pair of a sign-in.
    Cookie(String),
}

impl Cred {
    /// Adds the credential to a request.
    pub fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Cred::None => req,
            Cred::Bearer(t) => req.bearer_auth(t),
            Cred::Cookie(c) => req.header("cookie", c),
        }
    }

    /// Adds the credential to a WebSocket handshake (with the node's own
    /// `Origin`, as a browser on the dashboard sends it).
    pub fn apply_ws(
        &self,
        req: &mut tokio_tungstenite::tungstenite::handshake::client::Request,
        origin: &str,
    ) {
        let h = req.headers_mut();
        match self {
            Cred::None => {}
            Cred::Bearer(t) => {
                h.insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            Cred::Cookie(c) => {
                h.insert("cookie", c.parse().unwrap());
                h.insert("origin", origin.parse().unwrap());
            }
        }
    }
}

/// The `reel_session=...` pair of a response's `Set-Cookie`.
pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{SESSION_COOKIE}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

impl TestNode {
    /// Creates a person with `role` (limited to `sites` when given) in the
    /// default organisation, with [`password_for`] their email; their id.
    pub async fn create_user(&self, email: &str, role: Role, sites: Option<&[i64]>) -> i64 {
        let index = reel::app::open_index(&self.node.state.config)
            .await
            .unwrap();
        let hash = reel::accounts::password::hash(&Password::new(password_for(email)))
            .await
            .unwrap();
        let accounts = index.accounts();
        let org = accounts.org_by_name("default").await.unwrap();
        let id = accounts
            .create_user(org, email, email, &hash, role, sites)
            .await
            .unwrap()
            .expect("a new email");
        index.close().await;
        id
    }

    /// `POST /api/v1/login`, whatever the answer.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/login", self.base))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Signs in with [`password_for`] the email; the cookie credential.
    pub async fn sign_in(&self, email: &str) -> Cred {
        let res = self.login(email, &password_for(email)).await;
        assert_eq!(res.status(), 200, "sign in as {email}");
        Cred::Cookie(session_cookie(&res).expect("a session cookie"))
    }

    /// A request to `path` (under the node) as `cred`.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        cred: &Cred,
    ) -> reqwest::RequestBuilder {
        cred.apply(self.http.request(method, format!("{}{path}", self.base)))
    }

    /// `GET path` as `cred`: status and JSON body (`Null` when not JSON).
    pub async fn get_with(&self, path: &str, cred: &Cred) -> (u16, Value) {
        let res = self
            .request(reqwest::Method::GET, path, cred)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Sends `body` (JSON) with `method` to `path` as `cred`: status and
    /// JSON body.
    pub async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        cred: &Cred,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.request(method, path, cred);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Opens `/v1/live` as `cred`: the socket, or the refusal's status.
    pub async fn open_live(
        &self,
        cred: &Cred,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        u16,
    > {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("{}/v1/live", self.ws_base)
            .into_client_request()
            .unwrap();
        cred.apply_ws(&mut req, &self.base);
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
            Err(e) => panic!("live socket: {e}"),
        }
    }
}
