//! The client address of a request, in one place ([`client_addr`]): the
//! TCP peer, unless the peer is one of the configured `trusted_proxies`,
//! in which case the address the proxies forwarded (`Forwarded`, RFC 7239,
//! else `X-Forwarded-For`), walked from the right past every trusted proxy.
//! Headers from a peer that is not trusted are never read: anyone can send
//! them.
//!
//! Used for the per-address ingest connection limit, the sign-in rate
//! limit and the audit log. Per-address limits key an address by
//! [`limit_key`]: IPv6 by its /64 (one host usually holds a whole /64),
//! IPv4 by the address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest};
use serde::{Deserialize, Serialize};

use super::AppState;

/// IPv6 addresses count against per-address limits by this prefix.
pub const IPV6_LIMIT_PREFIX: u8 = 64;

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`); a bare
/// address is a network of that one address. Bits past the prefix are
/// ignored (`10.1.2.3/8` is `10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network's address, with the bits past `prefix` cleared.
    net: IpAddr,
    /// Leading bits that count: 0..=32 (IPv4), 0..=128 (IPv6).
    prefix: u8,
}

/// Why a CIDR did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a CIDR (like 10.0.0.0/8, 2001:db8::/32 or 127.0.0.1)")]
pub struct CidrError(String);

impl Cidr {
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let net = match canonical(addr) {
            IpAddr::V4(a) if prefix <= 32 => IpAddr::V4(Ipv4Addr::from(
                u32::from(a) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0),
            )),
            IpAddr::V6(a) if prefix <= 128 => IpAddr::V6(mask_v6(a, prefix)),
            _ => return None,
        };
        Some(Cidr { net, prefix })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        Cidr::new(canonical(ip), self.prefix).is_some_and(|c| c.net == self.net)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let err = || CidrError(s.to_owned());
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                // Digits only: no sign, no spaces.
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                let addr: IpAddr = a.parse().map_err(|_| err())?;
                (addr, p.parse::<u8>().map_err(|_| err())?)
            }
            None => {
                let addr: IpAddr = s.parse().map_err(|_| err())?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        // A mapped address with an IPv6 prefix: its IPv4 prefix.
        let prefix = match addr {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
                prefix.checked_sub(96).ok_or_else(err)?
            }
            _ => prefix,
        };
        Cidr::new(addr, prefix).ok_or_else(err)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// The proxies whose forwarding headers the node believes (config
/// `trusted_proxies`, `REEL_TRUSTED_PROXIES`). Empty (the default): none,
/// the client is always the TCP peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// A comma-separated list (the environment variable's form); blanks
    /// between commas are skipped.
    pub fn parse_list(s: &str) -> Result<TrustedProxies, CidrError> {
        s.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(Cidr::from_str)
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Vec<String>> for TrustedProxies {
    type Error = CidrError;

    fn try_from(v: Vec<String>) -> Result<TrustedProxies, CidrError> {
        v.iter()
            .map(|c| c.parse())
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl From<TrustedProxies> for Vec<String> {
    fn from(t: TrustedProxies) -> Vec<String> {
        t.0.iter().map(Cidr::to_string).collect()
    }
}

/// The client address of `req`: see the module's documentation. `None`
/// only when the connection has no peer address (not over TCP).
pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| &s.config.trusted_proxies);
    Some(match trusted {
        Some(trusted) => resolve(peer, req.headers(), trusted),
        None => canonical(peer),
    })
}

/// The client behind `peer` by `headers`: `peer` itself unless it is
/// trusted; else the walk of `Forwarded` (when present) or
/// `X-Forwarded-For` from the right: each trusted address is skipped, the
/// first untrusted one is the client. When every address is trusted, the
/// leftmost is. An `unknown` or obfuscated identifier (`_hidden`) ends the
/// walk at the trusted hop that sent it. A malformed header: `peer`.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let hops = if headers.contains_key("forwarded") {
        forwarded_hops(headers)
    } else {
        x_forwarded_for_hops(headers)
    };
    let Some(hops) = hops else {
        return peer;
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        match *hop {
            Hop::Addr(ip) if trusted.contains(ip) => client = ip,
            Hop::Addr(ip) => return ip,
            Hop::Unknown => return client,
        }
    }
    client
}

/// The key of `ip` for per-address limits: IPv4 (IPv4-mapped IPv6
/// included) by the address, IPv6 by its [`IPV6_LIMIT_PREFIX`].
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(mask_v6(v6, IPV6_LIMIT_PREFIX)),
        v4 => v4,
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, a dual-stack socket's
/// view of an IPv4 peer) as IPv4; any other address as it is.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn mask_v6(a: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from(u128::from(a) & mask)
}

/// One proxy hop's idea of who connected to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Addr(IpAddr),
    /// `unknown`, an obfuscated identifier, or no `for` at all.
    Unknown,
}

/// The `for=` of every element of every `Forwarded` header, in order;
/// `None` when one is malformed.
fn forwarded_hops(headers: &HeaderMap) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    for value in headers.get_all("forwarded") {
        let value = value.to_str().ok()?;
        for element in split_outside_quotes(value, ',')? {
            let mut hop = Hop::Unknown;
            for pair in split_outside_quotes(element, ';')? {
                let pair = pair.trim();
                if pair.is_empty() {
                    continue;
                }
                let (name, v) = pair.split_once('=')?;
                if name.trim().eq_ignore_ascii_case("for") {
                    hop = node(&unquote(v.trim())?)?;
                }
            }
            hops.push(hop);
        }
    }
    Some(hops)
}

/// Every address of every `X-Forwarded-For` header, in order; `None` when
/// one is malformed (an empty entry, or one that is not an address).
fn x_forwarded_for_hops(headers: &HeaderMap) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        for entry in value.to_str().ok()?.split(',') {
            hops.push(node(entry.trim())?);
        }
    }
    Some(hops)
}

/// An RFC 7239 node: `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]`,
/// `[2001:db8::1]:80`, `unknown`, `_obfuscated` (with an optional port);
/// a bare IPv6 address too, as `X-Forwarded-For` writes it.
fn node(s: &str) -> Option<Hop> {
    let host = match s.strip_prefix('[') {
        Some(rest) => {
            let (addr, after) = rest.split_once(']')?;
            if !(after.is_empty() || after.starts_with(':')) {
                return None;
            }
            return addr
                .parse::<Ipv6Addr>()
                .ok()
                .map(|a| Hop::Addr(canonical(a.into())));
        }
        None => s,
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(Hop::Addr(canonical(ip)));
    }
    // An IPv4 address or an identifier with a port.
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(is_node_char) => name,
        _ => host,
    };
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return Some(Hop::Addr(IpAddr::V4(ip)));
    }
    let obfuscated = name.len() > 1 && name.starts_with('_') && name.bytes().all(is_node_char);
    (name.eq_ignore_ascii_case("unknown") || obfuscated).then_some(Hop::Unknown)
}

/// RFC 7239's `obfnode` and `obfport` characters.
fn is_node_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

/// A token as it is, or a quoted-string's content (`\x` is `x`); `None`
/// for an unterminated quote.
fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return (!v.contains('"')).then(|| v.to_owned());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// `s` split at `sep` outside quoted strings; `None` for an unterminated
/// quote.
fn split_outside_quotes(s: &str, sep: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    if quoted {
        return None;
    }
    parts.push(&s[start..]);
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(s: &str) -> TrustedProxies {
        TrustedProxies::parse_list(s).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn cidrs_parse_and_contain() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.255.1.2")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.1.1.1")), "mapped IPv4 is IPv4");
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8", "host bits are ignored");
        let c: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(c.to_string(), "127.0.0.1/32");
        assert!(!c.contains(ip("127.0.0.2")));
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains(ip("2001:db8:ffff::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        assert!(!c.contains(ip("10.0.0.1")));
        let c: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(c.contains(ip("8.8.8.8")) && !c.contains(ip("::1")));
        let c: Cidr = "::/0".parse().unwrap();
        assert!(c.contains(ip("2001:db8::1")));
        let c: Cidr = "::ffff:192.168.0.0/112".parse().unwrap();
        assert_eq!(c.to_string(), "192.168.0.0/16");
        assert!(c.contains(ip("192.168.3.4")));
        let c: Cidr = " fd00::1/128 ".parse().unwrap();
        assert!(c.contains(ip("fd00::1")) && !c.contains(ip("fd00::2")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "example.com/8",
            "10.0.0.0/8/8",
            "::ffff:1.2.3.4/95",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn trusted_lists_parse_from_env_and_file_forms() {
        let t = proxies(" 10.0.0.0/8, ,fd00::/8,");
        assert_eq!(Vec::<String>::from(t.clone()), ["10.0.0.0/8", "fd00::/8"]);
        assert!(proxies("").is_empty());
        let err = TrustedProxies::parse_list("10.0.0.0/8,nope").unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
        let from_file: TrustedProxies = serde_json::from_str(r#"["127.0.0.1/32", "::1"]"#).unwrap();
        assert!(from_file.contains(ip("::1")));
        assert!(serde_json::from_str::<TrustedProxies>(r#"["1.2.3.4/40"]"#).is_err());
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
        let t = proxies("10.0.0.0/8");
        for h in [
            headers(&[("x-forwarded-for", "203.0.113.7")]),
            headers(&[("forwarded", "for=203.0.113.7")]),
        ] {
            assert_eq!(resolve(ip("198.51.100.1"), &h, &t), ip("198.51.100.1"));
            // No trusted proxy at all: the same.
            assert_eq!(
                resolve(ip("10.0.0.1"), &h, &TrustedProxies::default()),
                ip("10.0.0.1")
            );
        }
    }

    #[test]
    fn x_forwarded_for_is_walked_from_the_right_past_trusted_proxies() {
        let t = proxies("10.0.0.0/8,192.168.1.1");
        let walk = |xff: &str| resolve(ip("10.0.0.1"), &headers(&[("x-forwarded-for", xff)]), &t);
        assert_eq!(walk("203.0.113.7"), ip("203.0.113.7"));
        // The client spoofed a first entry; the proxies appended the rest.
        assert_eq!(
            walk("1.1.1.1, 203.0.113.7, 192.168.1.1, 10.9.9.9"),
            ip("203.0.113.7")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(walk("10.1.1.1, 192.168.1.1"), ip("10.1.1.1"));
        // IPv6, with and without brackets and ports, and mapped IPv4.
        assert_eq!(walk("2001:db8::7"), ip("2001:db8::7"));
        assert_eq!(walk("[2001:db8::7]:4711"), ip("2001:db8::7"));
        assert_eq!(walk("203.0.113.7:4711"), ip("203.0.113.7"));
        assert_eq!(walk("::ffff:203.0.113.7"), ip("203.0.113.7"));
        // `unknown` ends the walk at the trusted hop that wrote it.
        assert_eq!(walk("203.0.113.7, unknown, 10.2.2.2"), ip("10.2.2.2"));
        // Two headers are one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "10.3.3.3"),
        ]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &t), ip("203.0.113.7"));
        // No header: the peer.
        assert_eq!(
            resolve(ip("10.0.0.1"), &HeaderMap::new(), &t),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn malformed_headers_fall_back_to_the_peer() {
        let t = proxies("10.0.0.0/8");
        for (name, value) in [
            ("x-forwarded-for", "203.0.113.7,,10.1.1.1"),
            ("x-forwarded-for", "not-an-address"),
            ("x-forwarded-for", "203.0.113.7 10.1.1.1"),
            ("x-forwarded-for", "[2001:db8::1"),
            ("x-forwarded-for", ""),
            ("forwarded", "for=\"[2001:db8::1]:80"),
            ("forwarded", "for=example.com"),
            ("forwarded", "for"),
            ("forwarded", "for=\"[2001:db8::1]x\""),
        ] {
            let h = headers(&[(name, value)]);
            assert_eq!(
                resolve(ip("10.0.0.1"), &h, &t),
                ip("10.0.0.1"),
                "{name}: {value}"
            );
        }
        // A malformed Forwarded wins over a good X-Forwarded-For.
        let h = headers(&[
            ("forwarded", "for=nope"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &t), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_is_walked_as_rfc_7239_writes_it() {
        let t = proxies("10.0.0.0/8");
        let walk = |v: &str| resolve(ip("10.0.0.1"), &headers(&[("forwarded", v)]), &t);
        assert_eq!(walk("for=203.0.113.7"), ip("203.0.113.7"));
        assert_eq!(walk("For=\"203.0.113.7:4711\""), ip("203.0.113.7"));
        assert_eq!(
            walk("for=\"[2001:db8:cafe::17]:4711\""),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(walk("for=\"[2001:db8:cafe::17]\""), ip("2001:db8:cafe::17"));
        assert_eq!(
            walk("for=1.1.1.1, for=203.0.113.7;proto=https;by=10.0.0.1, for=10.5.5.5;host=\"a,b\""),
            ip("203.0.113.7")
        );
        // Preferred over X-Forwarded-For.
        let h = headers(&[
            ("forwarded", "for=203.0.113.7"),
            ("x-forwarded-for", "198.51.100.9"),
        ]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &t), ip("203.0.113.7"));
        // Obfuscated or unknown: the trusted hop that said so.
        assert_eq!(
            walk("for=203.0.113.7, for=_hidden, for=10.4.4.4"),
            ip("10.4.4.4")
        );
        assert_eq!(walk("for=unknown"), ip("10.0.0.1"));
        assert_eq!(walk("for=\"_abc:_port\""), ip("10.0.0.1"));
        // An element without `for`: unknown too.
        assert_eq!(walk("for=203.0.113.7, proto=https"), ip("10.0.0.1"));
    }

    #[test]
    fn a_mapped_peer_is_trusted_as_ipv4() {
        let t = proxies("127.0.0.1/32");
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(resolve(ip("::ffff:127.0.0.1"), &h, &t), ip("203.0.113.7"));
        assert_eq!(
            resolve(ip("::ffff:127.0.0.2"), &h, &t),
            ip("127.0.0.2"),
            "the peer, as IPv4"
        );
    }

    #[test]
    fn ipv6_addresses_share_a_limit_per_64() {
        let a = limit_key(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_eq!(a, limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_ne!(a, limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(limit_key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_ne!(limit_key(ip("203.0.113.7")), limit_key(ip("203.0.113.8")));
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }
}
