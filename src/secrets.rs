//! Secrets: a value that never prints ([`Secret`]), and the redaction
//! that takes the process's secrets and URLs' user information out of any
//! text on its way to a log line, an error, `/readyz`, a panic message or
//! Sentry ([`redact`]). Which settings are secrets, and their `*_FILE`
//! forms, is the config's ([`crate::config::ENV_VARS`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// A secret: never printed, never logged.
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// What is printed in place of a secret.
pub const REDACTED: &str = "[redacted]";

/// `text` with the user information (`user:password@`, a Sentry DSN's
/// public key) of every URL in it replaced by [`REDACTED`]: for errors of
/// clients (sqlx, redis, the AWS SDK) that may echo the URL they were
/// given, before they reach a log line, `/readyz` or the terminal.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends where the path, query or fragment starts, or
        // where the URL does inside a longer text.
        let end = tail
            .find(|c: char| {
                matches!(
                    c,
                    '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | ',' | ')'
                ) || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Secrets shorter than this are not looked for by value in output (too
/// likely to match ordinary text); their URLs' user information still is.
pub const MIN_MASKED_SECRET: usize = 6;

/// Takes secrets out of text on its way out of the process (log lines,
/// error messages, `/readyz`): the user information of every URL
/// ([`redact_userinfo`]) and every value of the node's own secrets, each
/// replaced by [`REDACTED`]. The last guard against a library that prints
/// what it was given (the AWS SDK's debug lines print the access key id).
#[derive(Debug, Default)]
pub struct Redactor {
    /// The values looked for, longest first.
    needles: Vec<Secret>,
}

impl Redactor {
    /// For the secrets of `config`: each value, and for a URL its user
    /// information and password (as written and percent-decoded).
    pub fn new(config: &Config) -> Redactor {
        let mut needles: Vec<String> = Vec::new();
        for secret in config.secrets() {
            let value = secret.expose();
            needles.push(value.to_owned());
            if let Some(userinfo) = userinfo(value) {
                needles.push(userinfo.to_owned());
                let password = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
                needles.push(password.to_owned());
                needles.push(percent_decode(password));
            }
        }
        needles.retain(|n| n.len() >= MIN_MASKED_SECRET);
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor {
            needles: needles.into_iter().map(Secret).collect(),
        }
    }

    /// `text` without any secret.
    pub fn redact(&self, text: &str) -> String {
        let mut out = redact_userinfo(text);
        for needle in &self.needles {
            if out.contains(needle.expose()) {
                out = out.replace(needle.expose(), REDACTED);
            }
        }
        out
    }
}

static REDACTOR: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();

/// Makes [`redact`] take out `config`'s secrets too. Once per process
/// (at start, by telemetry); later calls change nothing.
pub fn install_redactor(config: &Config) {
    let _ = REDACTOR.set(Redactor::new(config));
}

/// `text` without the user information of its URLs, nor (once
/// [`install_redactor`] ran) any value of the process's secrets. Every
/// error of a client that may echo a URL or key passes through it on its
/// way to a log line, `/readyz` or the terminal.
pub fn redact(text: &str) -> String {
    match REDACTOR.get() {
        Some(r) => r.redact(text),
        None => redact_userinfo(text),
    }
}

/// The user information of `url` (`user:password`, a DSN's key), if any.
fn userinfo(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    authority
        .rsplit_once('@')
        .map(|(u, _)| u)
        .filter(|u| !u.is_empty())
}

/// `%XX` escapes decoded (invalid ones kept as written).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{S3Config, SentryConfig};

    #[test]
    fn userinfo_is_redacted_from_urls_in_any_text() {
        let r = redact_userinfo;
        assert_eq!(
            r("error connecting to postgres://reel:pg-pass@127.0.0.1:5432/db: refused"),
            "error connecting to postgres://[redacted]@127.0.0.1:5432/db: refused"
        );
        assert_eq!(r("redis://:pw@h:6379"), "redis://[redacted]@h:6379");
        assert_eq!(
            r("{\"dsn\":\"https://key@sentry.example/1\"}"),
            "{\"dsn\":\"https://[redacted]@sentry.example/1\"}"
        );
        assert_eq!(r("a://u:p@x b://v@y"), "a://[redacted]@x b://[redacted]@y");
        // Nothing to hide: unchanged.
        for plain in ["http://h:1/p?q=a@b", "no url", "mailto:a@b", "x://", ""] {
            assert_eq!(r(plain), plain);
        }
    }

    #[test]
    fn the_redactor_takes_out_every_secret_and_its_pieces() {
        let c = Config {
            database_url: Some(Secret::new("postgres://reel:pg%40secret-1@db/reel")),
            redis_url: Some(Secret::new("redis://:redis-secret-2@h/")),
            sentry: SentryConfig {
                dsn: Some(Secret::new("https://0123456789abcdef@sentry.example/1")),
                ..SentryConfig::default()
            },
            s3: S3Config {
                access_key_id: Some(Secret::new("AKIDEXAMPLE3")),
                secret_access_key: Some(Secret::new("short")),
                ..S3Config::default()
            },
            ..Config::default()
        };
        let r = Redactor::new(&c);
        let text = "opts { password: \"pg@secret-1\" } auth redis-secret-2 \
                    Credentials { access_key_id: \"AKIDEXAMPLE3\" } key=0123456789abcdef \
                    at postgres://other:pw@x/y";
        let out = r.redact(text);
        for secret in [
            "pg@secret-1",
            "redis-secret-2",
            "AKIDEXAMPLE3",
            "0123456789abcdef",
            "other:pw",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        // Too short to look for by value: it would match ordinary words.
        assert!(r.redact("a short line").contains("short"));
        assert!(!format!("{r:?}").contains("AKIDEXAMPLE3"));
    }
}
