//! A minimal HTTP/1.1 server side: enough for raftkv's JSON API, with hard limits so that no
//! input from the network can exhaust memory or panic the process. Keep-alive is supported;
//! chunked request bodies are not (they get 411).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

pub const MAX_HEAD: usize = 16 << 10;
pub const MAX_BODY: usize = 1 << 20;

pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    pub keep_alive: bool,
}

pub struct Response {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

impl Response {
    pub fn json(status: u16, body: serde_json::Value) -> Response {
        Response {
            status,
            body: body.to_string(),
            location: None,
        }
    }
    pub fn error(status: u16, message: &str) -> Response {
        Response::json(status, serde_json::json!({ "error": message }))
    }
}

/// Why a request could not be read: the response to send before closing, or nothing (the peer
/// went away).
pub enum ReadError {
    Closed,
    Reply(Response),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> ReadError {
        ReadError::Closed
    }
}

/// Reads one request.
pub fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Request, ReadError> {
    let mut head_bytes = 0;
    let mut line = String::new();
    let n = reader.by_ref().take(MAX_HEAD as u64).read_line(&mut line)?;
    if n == 0 {
        return Err(ReadError::Closed);
    }
    head_bytes += n;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Reply(Response::error(
            400,
            "malformed request line",
        )));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut keep_alive = version == "HTTP/1.1";
    let mut content_length = 0usize;
    loop {
        let mut header = String::new();
        let n = reader
            .by_ref()
            .take((MAX_HEAD - head_bytes.min(MAX_HEAD)) as u64)
            .read_line(&mut header)?;
        head_bytes += n;
        if n == 0 || head_bytes >= MAX_HEAD {
            return Err(ReadError::Reply(Response::error(
                431,
                "request head too large",
            )));
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(ReadError::Reply(Response::error(
                400,
                "malformed header line",
            )));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                content_length = value.parse().map_err(|_| {
                    ReadError::Reply(Response::error(400, "Content-Length is not a number"))
                })?;
            }
            "transfer-encoding" => {
                return Err(ReadError::Reply(Response::error(
                    411,
                    "send a Content-Length, not chunks",
                )))
            }
            "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if content_length > MAX_BODY {
        return Err(ReadError::Reply(Response::error(
            413,
            &format!("body of {content_length} bytes is larger than the limit of {MAX_BODY}"),
        )));
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    Ok(Request {
        method,
        path,
        body,
        keep_alive,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

pub fn write_response(stream: &mut impl Write, r: &Response, keep_alive: bool) -> io::Result<()> {
    let mut out = head(
        r.status,
        "application/json",
        r.body.len(),
        r.location.as_deref(),
        keep_alive,
    )
    .into_bytes();
    out.extend_from_slice(r.body.as_bytes());
    stream.write_all(&out)?;
    stream.flush()
}

/// A response's status line and headers, up to and including the blank line.
pub fn head(
    status: u16,
    content_type: &str,
    length: usize,
    location: Option<&str>,
    keep_alive: bool,
) -> String {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n",
        reason(status),
    );
    if let Some(loc) = location {
        head.push_str(&format!("Location: {loc}\r\n"));
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    head
}
