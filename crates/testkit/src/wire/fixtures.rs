//! Byte-exact PostgreSQL messages for tests of anything that reads the wire: the
//! splitter here, the bench's round-trip counter. Client messages are encoded by
//! `postgres-protocol` (the encoder tokio-postgres itself uses), so they are what a
//! real driver sends; server messages are framed by hand, since that crate encodes
//! only the client's side.

use bytes::BytesMut;
use postgres_protocol::IsNull;
use postgres_protocol::message::frontend;

/// A server message: type byte, length (counting itself), body.
pub fn backend(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    let length = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A protocol 3.0 start-up packet with these parameters.
pub fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    frontend::startup_message(params.iter().copied(), &mut buf)
        .expect("start-up parameters hold no NUL byte");
    buf.to_vec()
}

/// A prepared statement executed the way tokio-postgres does it: Bind (with one
/// binary parameter `value`), Execute, Sync in one write.
pub fn execute_prepared(value: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    frontend::bind(
        "",
        "s0",
        [1],
        [value],
        |value, buf| {
            buf.extend_from_slice(value);
            Ok(IsNull::No)
        },
        [1],
        &mut buf,
    )
    .map_err(|_| "bind")
    .expect("one binary parameter encodes");
    frontend::execute("", 0, &mut buf).expect("an unnamed portal encodes");
    frontend::sync(&mut buf);
    buf.to_vec()
}

/// The server's answer to [`execute_prepared`]: BindComplete, DataRow,
/// CommandComplete, ReadyForQuery.
pub fn prepared_reply() -> Vec<u8> {
    [
        backend(b'2', b""),
        backend(b'D', b"\0\x01\0\0\0\x01x"),
        backend(b'C', b"SELECT 1\0"),
        backend(b'Z', b"I"),
    ]
    .concat()
}
