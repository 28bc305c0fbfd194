//! PostgreSQL as a target (`--target postgres`): one real server from Debian's `postgresql`,
//! started by faultline in the run's directory and driven in SQL ([`crate::sql`]).
//!
//! The node's start command makes the cluster with `initdb` the first time (trust
//! authentication, the server listening only on the node's address, no Unix socket) and then
//! runs `postgres` in the foreground with `fsync`, `synchronous_commit` and `full_page_writes`
//! on, so that a `kill -9` is a real crash that WAL recovery must survive when the node starts
//! again from the same directory. PostgreSQL refuses to run as root: as root, the server runs
//! as the `postgres` user the Debian package creates (through `setpriv`), and the data
//! directory is given to that user first.
//!
//! A URL instead (`--target postgres:URL`) drives a server somebody else runs: faultline then
//! only connects, and cannot kill, pause or restart it.

use crate::described::{Described, NodeDesc};
use crate::sql::{Isolation, SqlDesc};
use std::path::{Path, PathBuf};

/// The directory holding `postgres`, `initdb` and `pg_isready`: Debian's newest
/// `/usr/lib/postgresql/N/bin`, else the one `PATH` gives.
pub fn binaries() -> Result<PathBuf, String> {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| complete(bin))
        .max_by_key(|(v, _)| *v)
        .map(|(_, bin)| bin);
    let on_path = || {
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .map(PathBuf::from)
            .find(|dir| complete(dir))
    };
    debian.or_else(on_path).ok_or_else(|| {
        "PostgreSQL not found (postgres, initdb and pg_isready): install Debian's postgresql (as root: apt-get install postgresql)".into()
    })
}

fn complete(dir: &Path) -> bool {
    ["postgres", "initdb", "pg_isready"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

/// The user the server runs as when faultline is root, or why there is none.
pub fn server_user() -> Result<Option<String>, String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(_)) => Ok(Some("postgres".into())),
        _ => Err("PostgreSQL will not run as root, and there is no postgres user to run it as (Debian's postgresql package creates one)".into()),
    }
}

/// One server from the binaries in `bin` on `port` at `isolation`, run as `user` when given.
pub fn described(bin: &Path, port: u16, user: Option<&str>, isolation: Isolation) -> Described {
    let bin = bin.display();
    let server = format!(
        "[ -f {{data_dir}}/PG_VERSION ] || {bin}/initdb -D {{data_dir}} -U postgres --auth=trust -E UTF8 --no-instructions; \
         exec {bin}/postgres -D {{data_dir}} -p {port} -c listen_addresses={{ip}} -c unix_socket_directories= \
         -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=300 \
         -c shared_buffers=32MB -c logging_collector=off"
    );
    let start = match user {
        Some(u) => format!(
            "chown {u}: {{data_dir}} && exec setpriv --reuid={u} --regid={u} --init-groups sh -c '{server}'"
        ),
        None => format!("exec sh -c '{server}'"),
    };
    Described {
        name: format!(
            "PostgreSQL {} ({})",
            version(&bin.to_string()).unwrap_or_default(),
            isolation.name()
        ),
        nodes: vec![NodeDesc {
            name: "n1".into(),
            url: format!("postgres://{{ip}}:{port}"),
            start: Some(start),
            stop: None,
            health: Some(format!("{bin}/pg_isready -q -h {{ip}} -p {port}")),
            pid: None,
            setup: None,
        }],
        sql: Some(SqlDesc {
            isolation,
            user: "postgres".into(),
            password: None,
            database: "postgres".into(),
        }),
        ..Described::empty()
    }
}

/// A server somebody else runs, at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`).
pub fn at(url: &str, isolation: Isolation) -> Result<Described, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
    if !["postgres", "postgresql"].contains(&u.scheme()) {
        return Err(format!(
            "{url:?}: expected postgres://USER@HOST:PORT/DATABASE"
        ));
    }
    let host = u
        .host_str()
        .ok_or_else(|| format!("{url:?}: the URL names no host"))?;
    let port = u.port().unwrap_or(5432);
    let database = u.path().trim_start_matches('/');
    Ok(Described {
        name: format!("PostgreSQL at {host}:{port} ({})", isolation.name()),
        nodes: vec![NodeDesc {
            name: "n1".into(),
            url: format!("postgres://{host}:{port}"),
            start: None,
            stop: None,
            health: None,
            pid: None,
            setup: None,
        }],
        sql: Some(SqlDesc {
            isolation,
            user: match u.username() {
                "" => "postgres".into(),
                name => name.into(),
            },
            password: u.password().map(String::from),
            database: match database {
                "" => "postgres".into(),
                d => d.into(),
            },
        }),
        ..Described::empty()
    })
}

/// `15.18`, from `postgres --version`.
fn version(bin: &str) -> Option<String> {
    let out = std::process::Command::new(format!("{bin}/postgres"))
        .arg("--version")
        .output()
        .ok()?;
    // `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "(PostgreSQL)")?;
    words.next().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launched_server_initialises_once_and_runs_with_fsync_as_the_server_user() {
        let d = described(
            Path::new("/usr/lib/postgresql/15/bin"),
            5999,
            Some("postgres"),
            Isolation::RepeatableRead,
        );
        let start = d.nodes[0].start.as_deref().unwrap();
        assert!(
            start.starts_with("chown postgres: {data_dir} && exec setpriv --reuid=postgres"),
            "{start}"
        );
        assert!(
            start.contains("[ -f {data_dir}/PG_VERSION ] || /usr/lib/postgresql/15/bin/initdb"),
            "{start}"
        );
        assert!(
            start.contains("-p 5999 -c listen_addresses={ip}"),
            "{start}"
        );
        assert!(
            start.contains("-c fsync=on -c synchronous_commit=on"),
            "{start}"
        );
        assert_eq!(d.nodes[0].url, "postgres://{ip}:5999");
        assert_eq!(d.sql.unwrap().isolation, Isolation::RepeatableRead);
        let d = described(Path::new("/b"), 1, None, Isolation::Serializable);
        assert!(d.nodes[0]
            .start
            .as_deref()
            .unwrap()
            .starts_with("exec sh -c '"));
    }

    #[test]
    fn a_url_names_the_server_user_and_database() {
        let d = at(
            "postgres://alice:pw@db.example:6543/shop",
            Isolation::Serializable,
        )
        .unwrap();
        assert_eq!(d.nodes[0].url, "postgres://db.example:6543");
        assert!(d.nodes[0].start.is_none());
        let sql = d.sql.unwrap();
        assert_eq!(
            (
                sql.user.as_str(),
                sql.password.as_deref(),
                sql.database.as_str()
            ),
            ("alice", Some("pw"), "shop")
        );
        let d = at("postgres://localhost", Isolation::Serializable).unwrap();
        assert_eq!(d.nodes[0].url, "postgres://localhost:5432");
        assert_eq!(d.sql.unwrap().database, "postgres");
        let e = at("http://x", Isolation::Serializable).unwrap_err();
        assert!(e.contains("expected postgres://"), "{e}");
    }
}
