//! A dashboard's live socket, as a real WebSocket client.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest a test waits for one live message.
pub const LIVE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Live {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Live {
    /// Connects to `ws://ADDR/v1/live` with a bearer token.
    pub async fn connect(addr: &str, token: &str) -> Live {
        let mut req = format!("ws://{addr}/v1/live")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        Live { ws }
    }

    /// As [`Live::connect`], with a tiny socket receive buffer: a client
    /// that does not read fills up after a few messages.
    pub async fn connect_small_buffer(addr: &str, token: &str) -> Live {
        let mut req = format!("ws://{addr}/v1/live")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
        Live { ws }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string())).await.unwrap();
    }

    /// The next message, or `None` when the server closed.
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(within, self.ws.next())
                .await
                .expect("no live message in time")?;
            match msg {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        self.next(LIVE_TIMEOUT).await.expect("live socket closed")
    }

    /// Reads until a message satisfies `f` (bounded by [`LIVE_TIMEOUT`]).
    pub async fn until(&mut self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + LIVE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            let m = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("closed waiting for {what}"));
            if f(&m) {
                return m;
            }
        }
    }
}
