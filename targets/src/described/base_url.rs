//! A node's base URL, and the URLs redirects point at.

use std::net::{SocketAddr, ToSocketAddrs};

/// A node's base URL: scheme, host, port and a path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    /// `http` or `https` (`postgres` for an `[sql]` target, `amqp` for an `[amqp]` one, `zk` for a `[zookeeper]` one).
    pub scheme: String,
    /// A name, an IPv4 address, or an IPv6 address in brackets.
    pub host: String,
    pub port: u16,
    pub prefix: String,
}

impl BaseUrl {
    pub fn parse(url: &str) -> Result<BaseUrl, String> {
        let u = reqwest::Url::parse(url).map_err(|e| {
            format!("{url:?}: expected http://HOST:PORT or https://HOST:PORT ({e})")
        })?;
        if !["http", "https", "postgres", "amqp", "zk"].contains(&u.scheme()) {
            return Err(format!(
                "{url:?}: expected an http:// or https:// URL (or postgres:// for an [sql] target, amqp:// for an [amqp] one, zk:// for a [zookeeper] one)"
            ));
        }
        let Some(host) = host_of(&u) else {
            return Err(format!("{url:?}: the URL names no host"));
        };
        if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
            return Err(format!(
                "{url:?}: a node's URL is scheme, host, port and path only"
            ));
        }
        Ok(BaseUrl {
            scheme: u.scheme().to_string(),
            host,
            // PostgreSQL's and AMQP's own ports when their URLs name none.
            port: u.port_or_known_default().unwrap_or(match u.scheme() {
                "amqp" => 5672,
                "zk" => 2181,
                _ => 5432,
            }),
            prefix: u.path().trim_end_matches('/').to_string(),
        })
    }

    /// `host:port`, as a Host header and a Location name it.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The URL of `path` (which starts with `/`) on this node.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}://{}{}{path}",
            self.scheme,
            self.authority(),
            self.prefix
        )
    }

    /// A host name, if the host is one (not an address).
    pub fn domain(&self) -> Option<&str> {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>()
            .is_err()
            .then_some(&self.host)
    }

    /// The host name and the address it resolved to, for the HTTP client to keep to (nothing
    /// when the host is an address).
    pub fn pin(&self, resolved: SocketAddr) -> Option<(String, SocketAddr)> {
        Some((self.domain()?.to_string(), resolved))
    }

    /// Where the host resolves to now (an address resolves to itself).
    pub fn resolve(&self) -> Result<SocketAddr, String> {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        let found = (bare, self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?;
        let mut found: Vec<SocketAddr> = found.collect();
        // Prefer IPv4, as most services listen there first.
        found.sort_by_key(|a| !a.is_ipv4());
        found
            .first()
            .copied()
            .ok_or_else(|| format!("{} resolves to no address", self.host))
    }
}

/// A URL's host as a Host header writes it (an IPv6 address in brackets).
pub(super) fn host_of(u: &reqwest::Url) -> Option<String> {
    match u.host()? {
        url::Host::Ipv6(a) => Some(format!("[{a}]")),
        h => Some(h.to_string()),
    }
}

/// `host:port` of an absolute URL (the scheme's port when none is written).
pub fn authority(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!("{}:{}", host_of(&u)?, u.port_or_known_default()?))
}

/// A Location header, absolute or relative, made absolute against the URL it answered.
pub fn redirect_target(from: &str, location: &str) -> Option<String> {
    let to = reqwest::Url::parse(from).ok()?.join(location).ok()?;
    (["http", "https"].contains(&to.scheme()) && to.host().is_some()).then(|| to.to_string())
}
