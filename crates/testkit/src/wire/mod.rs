//! The PostgreSQL wire protocol, as much of it as a proxy needs: framing and relaying.
//!
//! Two tools in this workspace sit between a tier and PostgreSQL and look at the bytes:
//! the fault suite's [`FaultProxy`](crate::proxy::FaultProxy), which breaks connections
//! on command and reads what a tier sent, and the bench's counting proxy, which counts
//! messages and round trips. Both are built from this module, so the protocol is
//! written down once.
//!
//! ## The wire format in brief
//!
//! A connection starts with the client's **start-up packet**, which has no type byte:
//! a 4-byte big-endian length that counts itself, a 4-byte protocol code, a body.
//! The code is `196608` (version 3.0) for a `StartupMessage` (user, database, ...), or
//! a special code that asks a question first:
//!
//! * `SSLRequest` ([`SSL_REQUEST`]) and `GSSENCRequest` ([`GSSENC_REQUEST`]) ask for an
//!   encrypted session. The server answers with **one bare byte**, not a framed
//!   message: `N` (no; the client goes on in plain text with another start-up packet),
//!   `S` or `G` (yes; everything after it is TLS or GSS, opaque to a proxy).
//!
//! After start-up, every message in **both directions** is framed the same way:
//!
//! ```text
//! +------+----------------+---------------------+
//! | type | length (4, BE) | body (length - 4)   |
//! +------+----------------+---------------------+
//! ```
//!
//! The 1-byte type says what it is (`b'B'` is Bind from a client, `b'2'` BindComplete
//! from the server; [`message_name`] knows them all); the length counts itself but not
//! the type byte. TCP keeps no message boundaries, so a message may arrive split over
//! several reads, or several in one read: [`Splitter`] follows one direction across any
//! chunking.
//!
//! A prepared query executed the way tokio-postgres does it is one burst of `Bind`,
//! `Execute`, `Sync` from the client, answered by `BindComplete`, `DataRow`s,
//! `CommandComplete` and `ReadyForQuery` (`Z`, "ready for the next query").
//!
//! ## The module map
//!
//! * [`split`]: [`Splitter`] (one direction, streaming), [`ConnectionSplitter`] (both
//!   directions, the encryption answer passed from one to the other), and
//!   [`split_client_stream`] for a whole captured byte stream.
//! * [`fixtures`]: byte-exact messages for tests of anything that reads the wire.
//! * [`relay()`]: the one relay loop, with [`RelayHooks`] through which a proxy observes
//!   every chunk (counting, capturing) and injects faults (latency, black hole, cut).
//!
//! The headers of typed messages are parsed by `postgres-protocol` (tokio-postgres's
//! own protocol crate). A proxy built on this module understands no more than the
//! framing, and a TLS session would be opaque to it: the users of these proxies
//! connect without TLS (`sslmode=disable`) when they need to read the bytes.

pub mod fixtures;
pub mod relay;
pub mod split;

pub use relay::{RelayEnd, RelayHooks, relay};
pub use split::{ConnectionSplitter, Frame, Splitter, split_client_stream};

/// The start-up packet's protocol code that asks for TLS (`SSLRequest`).
pub const SSL_REQUEST: u32 = 80_877_103;
/// The start-up packet's protocol code that asks for GSS encryption (`GSSENCRequest`).
pub const GSSENC_REQUEST: u32 = 80_877_104;
/// The protocol code of a real `StartupMessage`: version 3.0 (`3 << 16`).
pub const PROTOCOL_3_0: u32 = 196_608;

/// Which side sent some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The tier (the PostgreSQL client, "frontend" in the protocol's documentation).
    Client,
    /// PostgreSQL ("backend").
    Server,
}

impl Side {
    /// The other side: where bytes from this side are going.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// The protocol's name for a message type byte (PostgreSQL docs, "Message Formats").
/// Type `0` stands for what has no type byte: the client's start-up packets and the
/// server's one-byte encryption answers.
pub fn message_name(side: Side, kind: u8) -> &'static str {
    match (side, kind) {
        (Side::Client, 0) => "StartupMessage",
        (Side::Client, b'B') => "Bind",
        (Side::Client, b'C') => "Close",
        (Side::Client, b'D') => "Describe",
        (Side::Client, b'E') => "Execute",
        (Side::Client, b'F') => "FunctionCall",
        (Side::Client, b'H') => "Flush",
        (Side::Client, b'P') => "Parse",
        (Side::Client, b'Q') => "Query",
        (Side::Client, b'S') => "Sync",
        (Side::Client, b'X') => "Terminate",
        (Side::Client, b'p') => "PasswordMessage",
        (Side::Client, b'd') => "CopyData",
        (Side::Client, b'c') => "CopyDone",
        (Side::Client, b'f') => "CopyFail",
        (Side::Server, 0) => "EncryptionAnswer",
        (Side::Server, b'1') => "ParseComplete",
        (Side::Server, b'2') => "BindComplete",
        (Side::Server, b'3') => "CloseComplete",
        (Side::Server, b'A') => "NotificationResponse",
        (Side::Server, b'C') => "CommandComplete",
        (Side::Server, b'D') => "DataRow",
        (Side::Server, b'E') => "ErrorResponse",
        (Side::Server, b'I') => "EmptyQueryResponse",
        (Side::Server, b'K') => "BackendKeyData",
        (Side::Server, b'N') => "NoticeResponse",
        (Side::Server, b'R') => "Authentication",
        (Side::Server, b'S') => "ParameterStatus",
        (Side::Server, b'T') => "RowDescription",
        (Side::Server, b'Z') => "ReadyForQuery",
        (Side::Server, b'n') => "NoData",
        (Side::Server, b's') => "PortalSuspended",
        (Side::Server, b't') => "ParameterDescription",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_depend_on_the_side() {
        // The same byte means different messages in the two directions.
        assert_eq!(message_name(Side::Client, b'D'), "Describe");
        assert_eq!(message_name(Side::Server, b'D'), "DataRow");
        assert_eq!(message_name(Side::Client, 0), "StartupMessage");
        assert_eq!(message_name(Side::Server, 0), "EncryptionAnswer");
        assert_eq!(message_name(Side::Server, b'?'), "Other");
        assert_eq!(Side::Client.other(), Side::Server);
        assert_eq!(Side::Server.other(), Side::Client);
    }
}
