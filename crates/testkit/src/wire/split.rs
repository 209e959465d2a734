//! Cutting a byte stream into PostgreSQL messages, across any TCP chunking.
//!
//! TCP delivers bytes, not messages: one read may hold half a header, or three whole
//! messages and the start of a fourth. [`Splitter`] follows one direction of a
//! connection through its three kinds of unit (see [the module docs](super)): the
//! client's untyped start-up packets, the server's bare one-byte answer to an
//! encryption request, and typed messages. It reports each as it begins ([`Frame`]),
//! and can keep the bodies of typed messages for a test that reads them.
//!
//! A splitter never needs more than one header in memory: it assembles the 5-byte
//! header (8 bytes for a start-up packet), then skips, or keeps, the body whose length
//! the header gave.

use postgres_protocol::message::backend::Header;

use super::{GSSENC_REQUEST, SSL_REQUEST, Side};

/// One unit found in the byte stream, reported when its header is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A typed message: `b'B'` is Bind from a client, BindComplete is `b'2'`, ...
    Message(u8),
    /// A start-up packet (no type byte), with its protocol code.
    Startup(u32),
    /// The server's one-byte, unframed answer to `SSLRequest` or `GSSENCRequest`.
    EncryptionAnswer(u8),
}

/// Cuts one direction of a connection into messages, across any TCP chunking: a
/// message may arrive split over several reads, or several in one read.
#[derive(Debug, Clone)]
pub struct Splitter {
    /// The client side starts with an untyped start-up packet.
    startup: bool,
    /// Unframed one-byte answers the server owes (set by the client side).
    pending_answers: u32,
    /// The header being assembled: 5 bytes typed, 8 bytes (length, code) at start-up.
    header: [u8; 8],
    header_len: usize,
    /// Body bytes of the current unit still to pass.
    skip: usize,
    /// The stream stopped making sense (or turned into TLS): stop following it.
    lost: bool,
    /// The bodies of typed messages, when asked to keep them.
    kept: Option<Kept>,
}

/// Typed messages kept whole: those complete, and the one being read.
#[derive(Debug, Clone, Default)]
struct Kept {
    complete: Vec<(u8, Vec<u8>)>,
    current: Option<(u8, Vec<u8>)>,
}

impl Splitter {
    /// The splitter of one side of a fresh connection.
    pub fn new(side: Side) -> Self {
        Self {
            startup: side == Side::Client,
            pending_answers: 0,
            header: [0; 8],
            header_len: 0,
            skip: 0,
            lost: false,
            kept: None,
        }
    }

    /// The splitter of one side of a connection whose start-up is over: for bytes
    /// captured in the middle of a session, where every message is typed.
    pub fn mid_session(side: Side) -> Self {
        Self {
            startup: false,
            ..Self::new(side)
        }
    }

    /// Also keeps the type and body of every typed message, for [`Self::messages`].
    pub fn keeping_bodies(mut self) -> Self {
        self.kept = Some(Kept::default());
        self
    }

    /// Whether the stream could no longer be followed.
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// The typed messages completed so far, as `(type byte, body)`, if this splitter
    /// keeps bodies ([`Self::keeping_bodies`]); a message still arriving is left out.
    pub fn messages(&self) -> &[(u8, Vec<u8>)] {
        self.kept.as_ref().map_or(&[], |kept| &kept.complete)
    }

    /// Tells the server side that the client asked for encryption: its next byte is a
    /// bare `N` (no), `S` or `G` (yes), not a framed message.
    pub fn expect_encryption_answer(&mut self) {
        self.pending_answers += 1;
    }

    /// Feeds the next bytes of this direction; calls `found` for each unit begun.
    pub fn feed(&mut self, mut data: &[u8], mut found: impl FnMut(Frame)) {
        while !data.is_empty() && !self.lost {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.keep_body(&data[..n]);
                self.skip -= n;
                data = &data[n..];
                if self.skip == 0 {
                    self.finish_message();
                }
                continue;
            }
            if self.pending_answers > 0 && self.header_len == 0 {
                self.pending_answers -= 1;
                let answer = data[0];
                data = &data[1..];
                found(Frame::EncryptionAnswer(answer));
                // `S` or `G`: the rest is encrypted, and no longer ours to read.
                self.lost = answer != b'N';
                continue;
            }
            let want = if self.startup { 8 } else { 5 };
            let n = (want - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            data = &data[n..];
            if self.header_len < want {
                continue;
            }
            self.header_len = 0;
            if self.startup {
                self.start_packet(&mut found);
            } else {
                self.start_message(&mut found);
            }
        }
    }

    /// A complete 8-byte start-up header: a length that counts itself, and a code.
    fn start_packet(&mut self, found: &mut impl FnMut(Frame)) {
        let [a, b, c, d, e, f, g, h] = self.header;
        let length = u32::from_be_bytes([a, b, c, d]) as usize;
        let code = u32::from_be_bytes([e, f, g, h]);
        // SSLRequest and GSSENCRequest are followed by another start-up packet.
        self.startup = matches!(code, SSL_REQUEST | GSSENC_REQUEST);
        self.lost = length < 8;
        self.skip = length.saturating_sub(8);
        found(Frame::Startup(code));
    }

    /// A complete 5-byte typed header, parsed by postgres-protocol. (Its `Header` is
    /// in the `backend` module, but frontend messages are framed the same way.)
    fn start_message(&mut self, found: &mut impl FnMut(Frame)) {
        let header = match Header::parse(&self.header[..5]) {
            Ok(Some(header)) => header,
            // A length below 4 (it counts itself): this is not PostgreSQL any more.
            Ok(None) | Err(_) => {
                self.lost = true;
                return;
            }
        };
        // The length counts itself (4 bytes) but not the type byte.
        self.skip = usize::try_from(header.len()).map_or(0, |length| length - 4);
        if let Some(kept) = &mut self.kept {
            kept.current = Some((header.tag(), Vec::new()));
        }
        found(Frame::Message(header.tag()));
        if self.skip == 0 {
            self.finish_message();
        }
    }

    fn keep_body(&mut self, bytes: &[u8]) {
        if let Some((_, body)) = self.kept.as_mut().and_then(|kept| kept.current.as_mut()) {
            body.extend_from_slice(bytes);
        }
    }

    fn finish_message(&mut self) {
        if let Some(kept) = &mut self.kept
            && let Some(message) = kept.current.take()
        {
            kept.complete.push(message);
        }
    }
}

/// Both directions of one connection. The client's encryption requests tell the
/// server's splitter to expect a bare answer byte; feed each side's bytes in the order
/// they crossed (a proxy does, as it forwards them).
#[derive(Debug, Clone)]
pub struct ConnectionSplitter {
    client: Splitter,
    server: Splitter,
}

impl Default for ConnectionSplitter {
    fn default() -> Self {
        Self {
            client: Splitter::new(Side::Client),
            server: Splitter::new(Side::Server),
        }
    }
}

impl ConnectionSplitter {
    /// A connection whose start-up is over (see [`Splitter::mid_session`]).
    pub fn mid_session() -> Self {
        Self {
            client: Splitter::mid_session(Side::Client),
            server: Splitter::mid_session(Side::Server),
        }
    }

    /// The splitter of one side.
    pub fn side(&self, side: Side) -> &Splitter {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Feeds bytes sent by `side`; calls `found` for each unit begun.
    pub fn feed(&mut self, side: Side, data: &[u8], mut found: impl FnMut(Frame)) {
        match side {
            Side::Client => {
                let mut asked_encryption = 0;
                self.client.feed(data, |frame| {
                    if matches!(frame, Frame::Startup(SSL_REQUEST | GSSENC_REQUEST)) {
                        asked_encryption += 1;
                    }
                    found(frame);
                });
                for _ in 0..asked_encryption {
                    self.server.expect_encryption_answer();
                }
            }
            Side::Server => self.server.feed(data, found),
        }
    }
}

/// Cuts a client's whole byte stream into typed messages `(type byte, body)`, skipping
/// the untyped start-up packets (`SSLRequest`, `GSSENCRequest`, then `StartupMessage`)
/// at its beginning. A truncated message at the end is left out, not misread.
pub fn split_client_stream(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut splitter = Splitter::new(Side::Client).keeping_bodies();
    splitter.feed(bytes, |_| {});
    splitter.messages().to_vec()
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use postgres_protocol::message::frontend;

    use super::*;
    use crate::wire::PROTOCOL_3_0;
    use crate::wire::fixtures::{self, backend, execute_prepared, prepared_reply};

    fn startup() -> Vec<u8> {
        fixtures::startup(&[("user", "postgres"), ("database", "users_bench")])
    }

    /// `GSSENCRequest`: postgres-protocol has no encoder for it. Length 8, the code.
    fn gssenc_request() -> Vec<u8> {
        [8u32.to_be_bytes(), GSSENC_REQUEST.to_be_bytes()].concat()
    }

    fn frames(splitter: &mut Splitter, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut found = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, |frame| found.push(frame));
        }
        found
    }

    /// Whole, byte by byte, and cut in two at every offset: the same frames.
    fn assert_any_chunking(side: Side, stream: &[u8], expected: &[Frame]) {
        assert_eq!(frames(&mut Splitter::new(side), &[stream]), expected);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(frames(&mut Splitter::new(side), &bytes), expected);
        for cut in 0..=stream.len() {
            let (head, tail) = stream.split_at(cut);
            let found = frames(&mut Splitter::new(side), &[head, tail]);
            assert_eq!(found, expected, "cut at byte {cut}");
        }
    }

    #[test]
    fn splits_messages_however_the_bytes_are_chunked() {
        let request = [startup(), execute_prepared(&7i64.to_be_bytes())].concat();
        let client = [
            Frame::Startup(PROTOCOL_3_0),
            Frame::Message(b'B'),
            Frame::Message(b'E'),
            Frame::Message(b'S'),
        ];
        assert_any_chunking(Side::Client, &request, &client);
        let server = [b'2', b'D', b'C', b'Z'].map(Frame::Message);
        assert_any_chunking(Side::Server, &prepared_reply(), &server);
    }

    #[test]
    fn the_startup_packet_has_no_type_byte() {
        let mut query = BytesMut::new();
        frontend::query("SELECT 1", &mut query).unwrap();
        let mut client = Splitter::new(Side::Client);
        let found = frames(&mut client, &[&startup(), &query]);
        assert_eq!(
            found,
            vec![Frame::Startup(PROTOCOL_3_0), Frame::Message(b'Q')]
        );
        // Read mid-session, the same bytes are misread: the start-up state matters.
        let mut mid = Splitter::mid_session(Side::Client);
        assert_ne!(frames(&mut mid, &[&startup(), &query]), found);
    }

    #[test]
    fn an_encryption_request_is_answered_by_one_bare_byte() {
        // libpq with `gssencmode=prefer`: GSS first, then TLS, both refused (`N`).
        let mut connection = ConnectionSplitter::default();
        let mut seen = Vec::new();
        let mut ssl = BytesMut::new();
        frontend::ssl_request(&mut ssl);
        let auth_ok = backend(b'R', &[0, 0, 0, 0]);
        let ready = backend(b'Z', b"I");
        let exchange: [(Side, Vec<u8>); 6] = [
            (Side::Client, gssenc_request()),
            (Side::Server, b"N".to_vec()),
            (Side::Client, ssl.to_vec()),
            (Side::Server, b"N".to_vec()),
            (Side::Client, startup()),
            (Side::Server, [auth_ok, ready].concat()),
        ];
        for (side, bytes) in &exchange {
            connection.feed(*side, bytes, |frame| seen.push((*side, frame)));
        }
        assert_eq!(
            seen,
            vec![
                (Side::Client, Frame::Startup(GSSENC_REQUEST)),
                (Side::Server, Frame::EncryptionAnswer(b'N')),
                (Side::Client, Frame::Startup(SSL_REQUEST)),
                (Side::Server, Frame::EncryptionAnswer(b'N')),
                (Side::Client, Frame::Startup(PROTOCOL_3_0)),
                (Side::Server, Frame::Message(b'R')),
                (Side::Server, Frame::Message(b'Z')),
            ]
        );
        assert!(!connection.side(Side::Server).lost());

        // `S`: TLS from here on, which a splitter does not pretend to read.
        let mut tls = ConnectionSplitter::default();
        tls.feed(Side::Client, &ssl, |_| {});
        let mut after = Vec::new();
        tls.feed(Side::Server, b"S\x16\x03\x01", |frame| after.push(frame));
        assert_eq!(after, vec![Frame::EncryptionAnswer(b'S')]);
        assert!(tls.side(Side::Server).lost());
    }

    #[test]
    fn client_streams_split_into_messages() {
        let mut ssl = BytesMut::new();
        frontend::ssl_request(&mut ssl);
        let mut buf = BytesMut::new();
        frontend::parse("", "SELECT $1", [], &mut buf).unwrap();
        let mut stream = [ssl.to_vec(), startup(), buf.to_vec()].concat();
        stream.extend(execute_prepared(b"hi"));
        let messages = split_client_stream(&stream);
        let kinds: Vec<u8> = messages.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, b"PBES");
        assert!(messages[0].1.ends_with(b"SELECT $1\0\0\0"));
        // Bind's body ends with the value, then the result format count and format.
        assert!(messages[1].1.ends_with(b"\0\0\0\x02hi\0\x01\0\x01"));
        // Fed byte by byte, a streaming splitter keeps the same bodies.
        let mut streaming = Splitter::new(Side::Client).keeping_bodies();
        for byte in stream.chunks(1) {
            streaming.feed(byte, |_| {});
        }
        assert_eq!(streaming.messages(), messages.as_slice());
        // A truncated tail is left out, not misread.
        let mut query = BytesMut::new();
        frontend::query("SELECT 1", &mut query).unwrap();
        stream.extend(&query[..4]);
        assert_eq!(split_client_stream(&stream).len(), 4);
        // So is everything, when the start-up packet itself is cut short.
        assert!(split_client_stream(&startup()[..6]).is_empty());
    }

    #[test]
    fn nonsense_lengths_lose_the_stream() {
        let mut server = Splitter::new(Side::Server);
        // A length of 3 cannot count its own 4 bytes.
        let found = frames(&mut server, &[b"Z\0\0\0\x03", &backend(b'Z', b"I")]);
        assert!(found.is_empty() && server.lost(), "{found:?}");
        let mut client = Splitter::new(Side::Client);
        frames(&mut client, &[&[0, 0, 0, 4, 0, 3, 0, 0]]);
        assert!(client.lost());
    }
}
