//! Tests of the lean client: the head and chunk parsers on captured bytes, and whole
//! exchanges with a loopback server that sends its answers in awkward pieces.

use super::*;
use hyper::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What axum answers to `GET /users/1` (trimmed of its request-id).
const OK_GET: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\ndate: Fri, 04 Dec 2026 12:00:00 GMT\r\n\r\n{}";

#[test]
fn parses_a_head_with_its_length() {
    let head = parse_head(OK_GET).unwrap().unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.framing, Framing::Length(2));
    assert_eq!(head.len, OK_GET.len() - 2);
    assert!(!head.close);
    assert_eq!(parse_head(&OK_GET[..40]).unwrap(), None);
}

#[test]
fn reads_location_close_and_chunked() {
    let bytes = b"HTTP/1.1 201 Created\r\nLocation: /users/7\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n";
    let head = parse_head(bytes).unwrap().unwrap();
    assert_eq!(head.status, 201);
    assert_eq!(head.location.as_deref(), Some("/users/7"));
    assert_eq!(head.framing, Framing::Chunked);
    assert!(head.close);
    // Chunked wins over a length; a 204 has no body; no length runs to the close.
    let both = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n";
    assert_eq!(parse_head(both).unwrap().unwrap().framing, Framing::Chunked);
    let empty = b"HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n";
    assert_eq!(
        parse_head(empty).unwrap().unwrap().framing,
        Framing::Length(0)
    );
    let open = b"HTTP/1.1 200 OK\r\n\r\n";
    assert_eq!(
        parse_head(open).unwrap().unwrap().framing,
        Framing::UntilClose
    );
}

#[test]
fn rejects_what_it_cannot_frame() {
    assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n").is_err());
    assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: lots\r\n\r\n").is_err());
    assert!(parse_head(b"SMTP ready\r\n\r\n").is_err());
}

#[test]
fn dechunks_whole_and_partial_bodies() {
    let body = b"4\r\nWiki\r\n6;ext=1\r\npedia \r\n0\r\n\r\nNEXT";
    let mut data = Vec::new();
    assert_eq!(
        dechunk(body, Some(&mut data)).unwrap(),
        Some(body.len() - 4)
    );
    assert_eq!(data, b"Wikipedia ");
    // Every cut short of the end asks for more, never claims the end.
    for cut in 0..body.len() - 4 {
        assert_eq!(dechunk(&body[..cut], None).unwrap(), None, "cut at {cut}");
    }
    let trailers = b"1\r\nx\r\n0\r\nx-checksum: 1\r\n\r\n";
    assert_eq!(dechunk(trailers, None).unwrap(), Some(trailers.len()));
    assert!(dechunk(b"zz\r\n", None).is_err());
    assert!(dechunk(b"1\r\nxy\r\n", None).is_err());
}

/// A server that answers every request with `reply`, written in 3-byte pieces so the
/// client must read many times; it reads one request (up to the blank line) first.
async fn serve(reply: &'static [u8], then_close: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.clear();
                    for piece in reply.chunks(3) {
                        if socket.write_all(piece).await.is_err() {
                            return;
                        }
                        tokio::task::yield_now().await;
                    }
                    if then_close {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn spec(method: Method, body: Option<&str>) -> RequestSpec {
    RequestSpec {
        method,
        path: "/users".into(),
        body: body.map(str::to_owned),
        expected: 201,
    }
}

#[tokio::test]
async fn keeps_a_connection_across_chunked_and_sized_answers() {
    let chunked: &[u8] = b"HTTP/1.1 201 Created\r\nlocation: /users/9\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{\"i\r\n5\r\nd\":9}\r\n0\r\n\r\n";
    let addr = serve(chunked, false).await;
    let mut connection = connect(addr).await.unwrap();
    for _ in 0..3 {
        let answer = send_answer(&mut connection, addr, &spec(Method::POST, Some("{}")))
            .await
            .unwrap();
        assert_eq!(answer.status, 201);
        assert_eq!(answer.location.as_deref(), Some("/users/9"));
        assert_eq!(&answer.body[..], br#"{"id":9}"#);
    }
    let addr = serve(OK_GET, false).await;
    let mut connection = connect(addr).await.unwrap();
    for id in 1..=3 {
        assert_eq!(
            connection.get(format_args!("/users/{id}")).await.unwrap(),
            200
        );
    }
    assert!(!connection.is_closed());
}

/// A body cut off by the server is an error at once, not a hang.
#[tokio::test]
async fn a_cut_off_body_fails() {
    let cut: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}";
    let addr = serve(cut, true).await;
    let mut connection = connect(addr).await.unwrap();
    let err = send(&mut connection, addr, &spec(Method::GET, None))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("closed the connection"),
        "{err:#}"
    );
    let chunks: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab";
    let addr = serve(chunks, true).await;
    let mut connection = connect(addr).await.unwrap();
    assert!(
        send(&mut connection, addr, &spec(Method::GET, None))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let closing: &[u8] = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}";
    let addr = serve(closing, true).await;
    let mut connection = connect(addr).await.unwrap();
    assert_eq!(connection.get(format_args!("/health")).await.unwrap(), 200);
    assert!(connection.is_closed());
    assert!(connection.get(format_args!("/health")).await.is_err());
}

#[test]
fn a_get_is_formatted_without_a_body() {
    let request = |method: &str, body: Option<&str>| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut connection = connect(addr).await.unwrap();
            connection
                .write_request(method, format_args!("/users/{}", 42), body)
                .unwrap();
            (addr, String::from_utf8(connection.request.clone()).unwrap())
        })
    };
    let (addr, get) = request("GET", None);
    assert_eq!(
        get,
        format!("GET /users/42 HTTP/1.1\r\nhost: {addr}\r\n\r\n")
    );
    let (addr, patch) = request("PATCH", Some(r#"{"name":"x"}"#));
    assert_eq!(
        patch,
        format!(
            "PATCH /users/42 HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n{{\"name\":\"x\"}}"
        )
    );
}
