//! Stable error codes, mapped to HTTP statuses and WebSocket close codes in
//! one table (PROTOCOL.md §1).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Every error a client can be told about, by its stable wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No site has this key (refused before the upgrade).
    UnknownSite,
    /// The site lists allowed origins and `Origin` is not one (before the upgrade).
    OriginNotAllowed,
    /// Unparsable JSON or gzip, wrong field types, `hello` missing or repeated,
    /// unsupported `v`.
    BadMessage,
    /// Nothing received within the idle timeout.
    Idle,
    /// `seq` above the next expected.
    SeqGap,
    /// The session passed its maximum duration or size.
    SessionOver,
    /// A frame, decompressed message, event or batch over its limit.
    TooLarge,
    /// Too many connections, bytes or messages.
    RateLimited,
    /// Maintenance, or the node is draining or shutting down.
    Unavailable,
    /// A server fault.
    Internal,
    /// API: no credential, or an unknown, expired or revoked one (a bearer
    /// token or the `reel_session` cookie). PROTOCOL.md §5.
    Unauthenticated,
    /// `POST /api/v1/login`: the email or the password is wrong (one answer
    /// for both, so that it tells nobody which emails have accounts).
    BadCredentials,
    /// API: the request contradicts what is stored (an invitation for
    /// someone who is already a member; removing the last owner).
    Conflict,
    /// An invitation that expired, was used or was revoked.
    InvitationInvalid,
    /// API: the thing asked for does not exist in the token's organisation.
    NotFound,
    /// API: a bad query parameter or body.
    BadRequest,
    /// API: signed in (or a valid token), but the role lacks the right, or
    /// the switch is the operator's (maintenance), not any organisation's.
    Forbidden,
}

impl ErrorCode {
    /// The wire string, e.g. `"seq_gap"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UnknownSite => "unknown_site",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::Idle => "idle",
            ErrorCode::SeqGap => "seq_gap",
            ErrorCode::SessionOver => "session_over",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::BadCredentials => "bad_credentials",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InvitationInvalid => "invitation_invalid",
            ErrorCode::NotFound => "not_found",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Forbidden => "forbidden",
        }
    }

    /// The WebSocket close code an ingest connection is closed with.
    pub fn close_code(self) -> u16 {
        match self {
            ErrorCode::BadMessage => 4400,
            ErrorCode::Idle => 4408,
            ErrorCode::SeqGap => 4409,
            ErrorCode::SessionOver => 4410,
            ErrorCode::TooLarge => 4413,
            ErrorCode::RateLimited => 4429,
            ErrorCode::Unavailable => 4503,
            ErrorCode::Internal => 1011,
            // Refusals before the upgrade and API errors never close a socket;
            // should one be used on a socket it is a protocol violation.
            ErrorCode::UnknownSite
            | ErrorCode::OriginNotAllowed
            | ErrorCode::Unauthenticated
            | ErrorCode::BadCredentials
            | ErrorCode::Conflict
            | ErrorCode::InvitationInvalid
            | ErrorCode::NotFound
            | ErrorCode::BadRequest
            | ErrorCode::Forbidden => 1008,
        }
    }

    /// The HTTP status of a refusal or API error with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::UnknownSite | ErrorCode::Unauthenticated | ErrorCode::BadCredentials => 401,
            ErrorCode::Conflict => 409,
            ErrorCode::InvitationInvalid => 410,
            ErrorCode::OriginNotAllowed | ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::BadMessage | ErrorCode::BadRequest | ErrorCode::SeqGap => 400,
            ErrorCode::Idle => 408,
            ErrorCode::SessionOver => 410,
            ErrorCode::TooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::UnknownSite,
        ErrorCode::OriginNotAllowed,
        ErrorCode::BadMessage,
        ErrorCode::Idle,
        ErrorCode::SeqGap,
        ErrorCode::SessionOver,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::Unauthenticated,
        ErrorCode::BadCredentials,
        ErrorCode::Conflict,
        ErrorCode::InvitationInvalid,
        ErrorCode::NotFound,
        ErrorCode::BadRequest,
        ErrorCode::Forbidden,
    ];
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of a refusal before the upgrade and of an API error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn close_codes_are_the_protocol_table() {
        let table = [
            ("bad_message", 4400),
            ("idle", 4408),
            ("seq_gap", 4409),
            ("session_over", 4410),
            ("too_large", 4413),
            ("rate_limited", 4429),
            ("unavailable", 4503),
            ("internal", 1011),
        ];
        for (name, close) in table {
            let code: ErrorCode = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(code.close_code(), close, "{name}");
        }
    }
}
