//! A small blocking HTTP/1.1 client with keep-alive and timeouts, for talking JSON to targets.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub location: Option<String>,
}

/// Why no reply came: the request may or may not have had an effect.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("no complete reply from {0}: {1}")]
    Io(String, std::io::Error),
    #[error("malformed reply from {0}: {1}")]
    Malformed(String, String),
}

/// One keep-alive connection to one address.
pub struct Client {
    addr: String,
    timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(addr: &str, timeout: Duration) -> Client {
        Client {
            addr: addr.to_string(),
            timeout,
            conn: None,
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>, ClientError> {
        if self.conn.is_none() {
            let sock: SocketAddr = self.addr.parse().map_err(|_| {
                ClientError::Connect(self.addr.clone(), std::io::Error::other("not an address"))
            })?;
            let s = TcpStream::connect_timeout(&sock, self.timeout)
                .map_err(|e| ClientError::Connect(self.addr.clone(), e))?;
            let _ = s.set_nodelay(true);
            let _ = s.set_read_timeout(Some(self.timeout));
            let _ = s.set_write_timeout(Some(self.timeout));
            self.conn = Some(BufReader::new(s));
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// Sends a request with an optional JSON body and reads the reply. Any failure drops the
    /// connection, so the next request starts afresh.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let body = body.map(|b| b.to_string());
        self.request_text(method, path, body.as_deref())
    }

    /// As [`Client::request`], with the body as text (a filled-in template). A reply body that is
    /// not JSON comes back as a JSON string.
    pub fn request_text(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let result = self.try_request(method, path, body.unwrap_or_default());
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn try_request(&mut self, method: &str, path: &str, body: &str) -> Result<Reply, ClientError> {
        let addr = self.addr.clone();
        let conn = self.connect()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let io = |e| ClientError::Io(addr.clone(), e);
        let stream = conn.get_mut();
        stream.write_all(head.as_bytes()).map_err(io)?;
        stream.write_all(body.as_bytes()).map_err(io)?;
        let mut line = String::new();
        if conn.read_line(&mut line).map_err(io)? == 0 {
            return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ClientError::Malformed(addr.clone(), format!("status line {line:?}")))?;
        let mut length = 0usize;
        let mut location = None;
        let mut close = false;
        loop {
            let mut h = String::new();
            if conn.read_line(&mut h).map_err(io)? == 0 {
                return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "location" => location = Some(value.trim().to_string()),
                    "connection" => close = value.trim().eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        if length > 64 << 20 {
            return Err(ClientError::Malformed(
                addr,
                format!("reply of {length} bytes"),
            ));
        }
        let mut buf = vec![0; length];
        conn.read_exact(&mut buf).map_err(io)?;
        if close {
            self.conn = None;
        }
        let body = if buf.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&buf)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&buf).into_owned()))
        };
        Ok(Reply {
            status,
            body,
            location,
        })
    }
}
