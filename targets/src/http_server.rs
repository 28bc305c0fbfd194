//! The HTTP server side every faultline listener uses — raftkv's client API and `faultline
//! serve` — on hyper, with the limits a server facing any client needs:
//! - a request head over [`Limits::max_head`] gets 431, a body over [`Limits::max_body`] 413;
//!   a malformed request 400 (hyper's own answer);
//! - a client that sends half a request and stalls is dropped after [`Limits::read_timeout`]
//!   (head or body; a body that stalls gets 408);
//! - at most [`Limits::max_connections`] open connections; one more is answered 503 and closed;
//! - `Expect: 100-continue` is answered before the body is read; pipelined requests are answered
//!   in order; chunked request bodies are read like any other.
//!
//! The handler is plain code: it gets a [`Request`] and answers [`Handled::Now`], or
//! [`Handled::Later`] with a channel the answer will come on (raftkv answers once Raft has
//! decided). It is not a framework and has no routing: each caller parses its own paths.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{oneshot, Semaphore};

/// A request as handlers see it: the whole body read.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path and query as sent (`/kv/a?local`), not decoded.
    pub path: String,
    pub body: Vec<u8>,
}

/// An answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub location: Option<String>,
}

impl Response {
    pub fn json(status: u16, body: serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
            location: None,
        }
    }

    /// `{"error": message}`.
    pub fn error(status: u16, message: &str) -> Response {
        Response::json(status, serde_json::json!({ "error": message }))
    }
}

/// What a handler did with a request.
pub enum Handled {
    Now(Response),
    /// The answer will come on this channel; if it does not within
    /// [`Limits::answer_within`], or the sender is dropped, `on_silence` is sent instead.
    Later(oneshot::Receiver<Response>),
}

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_head: usize,
    pub max_body: usize,
    pub read_timeout: Duration,
    pub max_connections: usize,
    pub answer_within: Duration,
    /// The answer when a [`Handled::Later`] answer does not come.
    pub on_silence: Response,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 16 << 10,
            max_body: 1 << 20,
            read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            answer_within: Duration::from_secs(30),
            on_silence: Response::json(
                503,
                serde_json::json!({"error": "no answer in time", "indeterminate": true}),
            ),
        }
    }
}

type Handler = dyn Fn(Request) -> Handled + Send + Sync;

/// Serves `listener` until the process ends, on a tokio runtime with `threads` workers of its
/// own (call it on a thread that has nothing else to do).
pub fn serve(
    listener: std::net::TcpListener,
    limits: Limits,
    threads: usize,
    handler: impl Fn(Request) -> Handled + Send + Sync + 'static,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("http-server")
        .enable_all()
        .build()?;
    listener.set_nonblocking(true)?;
    let handler: Arc<Handler> = Arc::new(handler);
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let limits = Arc::new(limits);
        loop {
            let conn = match listener.accept().await {
                Ok((c, _)) => c,
                // Out of descriptors, or a connection reset before accept: go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = conn.set_nodelay(true);
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tokio::spawn(refuse(conn));
                continue;
            };
            let (handler, limits) = (handler.clone(), limits.clone());
            let (read_timeout, max_head) = (limits.read_timeout, limits.max_head);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let (handler, limits) = (handler.clone(), limits.clone());
                    async move { Ok::<_, Infallible>(answer(req, &*handler, &limits).await) }
                });
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    // Heads up to four times the limit are read whole and answered 431 (a
                    // connection closed with unread bytes would lose the answer to a reset);
                    // bigger ones are cut off by hyper.
                    .max_buf_size((4 * max_head).max(8192))
                    .serve_connection(TokioIo::new(conn), service)
                    .await;
                drop(slot);
            });
        }
    })
}

/// One connection over the cap: a 503 saying so, then close.
async fn refuse(mut conn: tokio::net::TcpStream) {
    let body = r#"{"error": "too many open connections; retry"}"#;
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.write_all(reply.as_bytes())).await;
    let _ = conn.shutdown().await;
}

async fn answer(
    req: hyper::Request<Incoming>,
    handler: &Handler,
    limits: &Limits,
) -> hyper::Response<Full<Bytes>> {
    let head_size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + req.uri().to_string().len();
    if head_size > limits.max_head {
        return close(reply(Response::error(431, "request head too large")));
    }
    let too_big = || {
        let message = format!(
            "the body is larger than the limit of {} bytes",
            limits.max_body
        );
        close(reply(Response::error(413, &message)))
    };
    // A declared length over the limit is refused before a byte of the body is read.
    if hyper::body::Body::size_hint(req.body()).lower() > limits.max_body as u64 {
        return too_big();
    }
    let (parts, body) = req.into_parts();
    let read = Limited::new(body, limits.max_body).collect();
    let body = match tokio::time::timeout(limits.read_timeout, read).await {
        Err(_) => {
            return close(reply(Response::error(
                408,
                "the body did not arrive in time",
            )))
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_big(),
        Ok(Err(_)) => return close(reply(Response::error(400, "the body could not be read"))),
        Ok(Ok(b)) => b.to_bytes().to_vec(),
    };
    let request = Request {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.to_string()),
        body,
    };
    let response = match handler(request) {
        Handled::Now(r) => r,
        Handled::Later(rx) => match tokio::time::timeout(limits.answer_within, rx).await {
            Ok(Ok(r)) => r,
            _ => limits.on_silence.clone(),
        },
    };
    reply(response)
}

fn reply(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder()
        .status(r.status)
        .header(hyper::header::CONTENT_TYPE, r.content_type);
    if let Some(loc) = &r.location {
        b = b.header(hyper::header::LOCATION, loc.as_str());
    }
    b.body(Full::new(Bytes::from(r.body)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::from_static(b"bad response"))))
}

/// The connection ends after this answer (the rest of the request was not read).
fn close(mut r: hyper::Response<Full<Bytes>>) -> hyper::Response<Full<Bytes>> {
    r.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    /// A server whose handler echoes the request's method, path and body length.
    fn echo(limits: Limits) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            serve(l, limits, 1, |r: Request| {
                let said = format!("{} {} {}", r.method, r.path, r.body.len());
                Handled::Now(Response::json(200, serde_json::json!(said)))
            })
        });
        addr
    }

    fn exchange(addr: &str, bytes: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(bytes).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn pipelined_requests_are_answered_in_order_and_chunked_bodies_read() {
        let addr = echo(Limits::default());
        let out = exchange(
            &addr,
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPUT /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /c?q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let a = out.find("GET /a 0").unwrap();
        let b = out.find("PUT /b 3").unwrap();
        let c = out.find("GET /c?q 0").unwrap();
        assert!(a < b && b < c, "{out}");
    }

    #[test]
    fn expect_100_continue_is_answered_before_the_body() {
        let addr = echo(Limits::default());
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(
            b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100 Continue"));
        s.write_all(b"ok").unwrap();
        let mut rest = vec![0u8; 256];
        let n = s.read(&mut rest).unwrap();
        assert!(String::from_utf8_lossy(&rest[..n]).contains("PUT /x 2"));
    }

    #[test]
    fn oversized_heads_and_bodies_are_refused() {
        let addr = echo(Limits::default());
        let head = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(20 << 10)
        );
        let out = exchange(&addr, head.as_bytes());
        assert!(out.starts_with("HTTP/1.1 431"), "{out:?}");
        let body = format!(
            "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            2 << 20
        );
        let out = exchange(&addr, body.as_bytes());
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
        let out = exchange(&addr, b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 400"), "{out:?}");
        let out = exchange(&addr, b"NOT HTTP\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 400"), "{out:?}");
    }

    #[test]
    fn a_stalled_client_is_dropped_and_the_connection_cap_holds() {
        let addr = echo(Limits {
            read_timeout: Duration::from_millis(300),
            max_connections: 2,
            ..Limits::default()
        });
        let started = std::time::Instant::now();
        // Half a head, then nothing: the server closes within the read timeout.
        let out = exchange(&addr, b"GET / HTTP/1.1\r\nHo");
        assert!(started.elapsed() < Duration::from_secs(3), "{out}");
        // Half a body: 408.
        let out = exchange(
            &addr,
            b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab",
        );
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
        // Two idle connections fill the cap; a third is refused at once.
        let _a = TcpStream::connect(&addr).unwrap();
        let _b = TcpStream::connect(&addr).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let out = exchange(&addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            out.starts_with("HTTP/1.1 503") && out.contains("too many"),
            "{out}"
        );
    }
}
