//! The HTTP client every driver uses: reqwest on tokio, with the outcome rules a history needs.
//!
//! [`Http`] is the asynchronous client the harness's client tasks share (one connection pool
//! for all of them); [`Client`] is the same stack behind a blocking call, for probes, tests and
//! the WebDriver session in the browser test. Neither follows redirects: a redirect to the
//! leader is an answer the target description interprets (`follow_redirects`), not something
//! the transport does behind the history's back.
//!
//! What a failure means is decided here, once, by what reached the wire:
//! - [`ClientError::NotSent`]: the request certainly never reached the service — the connection
//!   was refused or never made, the host did not resolve. (A pooled keep-alive connection that
//!   the server had closed while idle is retried on a fresh one by the pool, since nothing was
//!   written to it.)
//! - [`ClientError::Unanswered`]: bytes were sent and no complete reply came — a timeout
//!   ("timed out after 1500 ms"), a reset, a body cut short. The operation may have happened.
//! - [`ClientError::Malformed`]: a reply came and cannot be read (over the size limit). It is
//!   never turned into a value.
//!
//! Bodies may be chunked, close-delimited or sized by Content-Length. A body that is JSON is
//! parsed; any other body is kept as a JSON string of its text, and [`Reply::text`] keeps the
//! raw text for descriptions that classify answers by it.

use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The largest reply body read; a bigger one is [`ClientError::Malformed`].
pub const MAX_BODY: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    /// The body as JSON, or as a JSON string of its text when it is not JSON; null when empty.
    pub body: Value,
    /// The body's text as sent (invalid UTF-8 replaced).
    pub text: String,
    pub location: Option<String>,
}

/// Why no usable reply came, by whether the request may have had an effect.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// Certainly not sent.
    #[error("could not connect to {0}: {1}")]
    NotSent(String, String),
    /// Sent; no complete reply.
    #[error("no complete reply from {0}: {1}")]
    Unanswered(String, String),
    /// A reply that cannot be read.
    #[error("unreadable reply from {0}: {1}")]
    Malformed(String, String),
}

/// Certificates for https targets: a CA to trust (besides the system's), and a client
/// certificate with its key for services that ask for one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// One request.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    pub method: &'a str,
    /// The whole URL, `http://host:port/path?query`.
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a str>,
    /// The body's Content-Type (default `application/json` when there is a body).
    pub content_type: Option<&'a str>,
}

/// The asynchronous client: a connection pool, a timeout per request, and host names pinned to
/// the addresses they resolved to when the run began.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    timeout: Duration,
}

impl Http {
    /// A client whose requests time out after `timeout`; `pins` fixes where host names go.
    pub fn new(
        timeout: Duration,
        tls: &TlsFiles,
        pins: &[(String, SocketAddr)],
    ) -> Result<Http, String> {
        install_crypto();
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .http1_only();
        for (host, addr) in pins {
            b = b.resolve(host, *addr);
        }
        if let Some(ca) = &tls.ca {
            let pem = read(ca, "CA file")?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{}: not a PEM certificate: {e}", ca.display()))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        match (&tls.cert, &tls.key) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert, "client certificate")?;
                pem.push(b'\n');
                pem.extend(read(key, "client key")?);
                let id = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| format!("{} with {}: {e}", cert.display(), key.display()))?;
                b = b.identity(id);
            }
            (None, None) => {}
            _ => return Err("a client certificate needs both cert and key".into()),
        }
        let client = b
            .build()
            .map_err(|e| format!("cannot set up HTTP: {}", reason(&e)))?;
        Ok(Http { client, timeout })
    }

    /// The same connection pool with requests that wait up to `timeout` (a call that blocks
    /// by design, such as a lock's acquire).
    pub fn with_timeout(&self, timeout: Duration) -> Http {
        Http {
            client: self.client.clone(),
            timeout,
        }
    }

    /// Sends `req` and reads the whole reply.
    pub async fn send(&self, req: Outgoing<'_>) -> Result<Reply, ClientError> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|_| {
            ClientError::NotSent(authority(req.url), format!("bad method {}", req.method))
        })?;
        let mut r = self.client.request(method, req.url).timeout(self.timeout);
        for (name, value) in req.headers {
            r = r.header(name.as_str(), value.as_str());
        }
        if let Some(body) = req.body {
            r = r
                .header(
                    reqwest::header::CONTENT_TYPE,
                    req.content_type.unwrap_or("application/json"),
                )
                .body(body.to_string());
        }
        let resp = r
            .send()
            .await
            .map_err(|e| self.classify(&authority(req.url), &e))?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = self.body(req.url, resp).await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Ok(Reply {
            status,
            body,
            text,
            location,
        })
    }

    async fn body(&self, url: &str, mut resp: reqwest::Response) -> Result<Vec<u8>, ClientError> {
        let too_big =
            |n: u64| ClientError::Malformed(authority(url), format!("a body of {n} bytes"));
        if let Some(n) = resp.content_length().filter(|&n| n > MAX_BODY as u64) {
            return Err(too_big(n));
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.classify(&authority(url), &e))?
        {
            out.extend_from_slice(&chunk);
            if out.len() > MAX_BODY {
                return Err(too_big(out.len() as u64));
            }
        }
        Ok(out)
    }

    /// What a transport error says about whether the request reached the service.
    fn classify(&self, at: &str, e: &reqwest::Error) -> ClientError {
        let why = if e.is_timeout() {
            format!("timed out after {} ms", self.timeout.as_millis())
        } else {
            reason(e)
        };
        if e.is_connect() {
            ClientError::NotSent(at.into(), why)
        } else if e.is_body() || e.is_decode() {
            ClientError::Unanswered(at.into(), format!("the reply was cut short: {why}"))
        } else {
            ClientError::Unanswered(at.into(), why)
        }
    }
}

/// The innermost cause, in words, without the errno.
fn reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    let text = inner.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
    .to_lowercase()
}

/// `http://host:port/path` → `host:port`, for error messages (only made when there is one).
fn authority(url: &str) -> String {
    crate::described::authority(url).unwrap_or_else(|| url.to_string())
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

/// rustls with ring, chosen once for the process.
fn install_crypto() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The runtime behind [`Client`]'s blocking calls: one small pool of threads for the process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("faultline-http")
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// The same stack behind blocking calls, at one `host:port` over plain HTTP. Not for use inside
/// an asynchronous task.
pub struct Client {
    base: String,
    http: Http,
}

impl Client {
    pub fn new(addr: &str, timeout: Duration) -> Client {
        let http =
            Http::new(timeout, &TlsFiles::default(), &[]).expect("plain HTTP needs no files");
        Client {
            base: format!("http://{addr}"),
            http,
        }
    }

    /// Requests to `base` (`scheme://host:port[/prefix]`) through `http`.
    pub fn with(base: String, http: Http) -> Client {
        Client { base, http }
    }

    /// Sends a request with an optional JSON body and reads the reply.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let body = body.map(|b| b.to_string());
        self.request_text(method, path, body.as_deref())
    }

    /// As [`Client::request`], with the body as text.
    pub fn request_text(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let url = format!("{}{path}", self.base);
        runtime().block_on(self.http.send(Outgoing {
            method,
            url: &url,
            headers: &[],
            body,
            content_type: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Serves one connection with `reply` (raw bytes) to every request head it reads.
    fn server(reply: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(reply);
        });
        addr
    }

    #[test]
    fn chunked_and_close_delimited_bodies_are_read_whole() {
        let chunked = server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"v\"\r\n4\r\n: 7}\r\n0\r\n\r\n");
        let r = Client::new(&chunked, Duration::from_secs(2))
            .request("GET", "/", None)
            .unwrap();
        assert_eq!(r.body, serde_json::json!({"v": 7}));
        let closed = server(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello");
        let r = Client::new(&closed, Duration::from_secs(2))
            .request("GET", "/", None)
            .unwrap();
        assert_eq!((r.body, r.text.as_str()), (Value::from("hello"), "hello"));
    }

    #[test]
    fn a_refused_connection_was_not_sent_and_a_cut_reply_was() {
        let port = crate::raftkv::cluster::free_port().unwrap();
        let e = Client::new(&format!("127.0.0.1:{port}"), Duration::from_secs(1))
            .request("GET", "/", None)
            .unwrap_err();
        assert!(matches!(e, ClientError::NotSent(..)), "{e}");
        assert!(!e.to_string().contains("os error"), "{e}");
        let cut = server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        let e = Client::new(&cut, Duration::from_secs(2))
            .request("GET", "/", None)
            .unwrap_err();
        assert!(matches!(e, ClientError::Unanswered(..)), "{e}");
    }

    #[test]
    fn a_silent_server_times_out_in_milliseconds_not_errno() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let e = Client::new(&addr, Duration::from_millis(300))
            .request("GET", "/", None)
            .unwrap_err();
        assert_eq!(
            e,
            ClientError::Unanswered(addr, "timed out after 300 ms".into())
        );
        drop(l);
    }
}
