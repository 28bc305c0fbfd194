//! etcd as a target (`--target etcd`): a local etcd 3.4 cluster from Debian's `etcd-server`,
//! one process per member with its own data directory, driven through the v3 JSON gateway.
//!
//! The requests are those of `examples/targets/etcd.toml` (compiled in, so the example and the
//! built-in target cannot drift apart); only the members differ: their ports are chosen per run
//! (or, in network namespaces, each member has its own address), and `--etcd-read
//! serializable` makes reads answer from the contacted member's own state, as the example's
//! final reads do.

use crate::described::{Described, NodeDesc};

const EXAMPLE: &str = include_str!("../../examples/targets/etcd.toml");

/// How reads are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// Through the Raft log's read index: linearizable (etcd's default).
    Linearizable,
    /// From the contacted member's local state: may be stale.
    Serializable,
}

/// Ports of one member: clients, peers.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub client: u16,
    pub peer: u16,
}

impl Ports {
    /// etcd's own defaults, for a member with an address of its own (a namespace, a host).
    pub const STANDARD: Ports = Ports {
        client: 2379,
        peer: 2380,
    };
}

/// The etcd binary, or why there is none.
pub fn binary() -> Result<std::path::PathBuf, String> {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/bin"])
    {
        let p = std::path::Path::new(dir).join("etcd");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(
        "etcd not found: install Debian's etcd-server (as root: apt-get install etcd-server)"
            .into(),
    )
}

/// The description of a cluster with a member per entry of `ports`, member `i` run by
/// `etcds[i]` (its machine's etcd) (`{ip}` stays a placeholder, for loopback, a namespace
/// address or a host's).
pub fn described(etcds: &[std::path::PathBuf], ports: &[Ports], read: ReadMode) -> Described {
    assert_eq!(etcds.len(), ports.len(), "an etcd per member");
    let mut d = Described::parse(EXAMPLE).expect("the compiled-in etcd example is valid");
    let names: Vec<String> = (1..=ports.len()).map(|i| format!("n{i}")).collect();
    let cluster = names
        .iter()
        .zip(ports)
        .map(|(name, p)| format!("{name}=http://{{ip:{name}}}:{}", p.peer))
        .collect::<Vec<_>>()
        .join(",");
    d.name = format!(
        "etcd {}, {} members ({} reads)",
        version(&etcds[0]).unwrap_or_else(|| "3.4".into()),
        ports.len(),
        match read {
            ReadMode::Linearizable => "linearizable",
            ReadMode::Serializable => "serializable",
        }
    );
    d.nodes = names
        .iter()
        .zip(ports)
        .zip(etcds)
        .map(|((name, p), etcd)| NodeDesc {
            name: name.clone(),
            url: format!("http://{{ip}}:{}", p.client),
            start: Some(format!(
                "exec {etcd} --name {name} --data-dir {{data_dir}} \
                 --listen-client-urls http://{{ip}}:{c} --advertise-client-urls http://{{ip}}:{c} \
                 --listen-peer-urls http://{{ip}}:{pp} --initial-advertise-peer-urls http://{{ip}}:{pp} \
                 --initial-cluster {cluster} --initial-cluster-state new \
                 --initial-cluster-token faultline --heartbeat-interval 50 --election-timeout 500",
                etcd = etcd.display(),
                c = p.client,
                pp = p.peer,
            )),
            stop: None,
            health: None,
            pid: None,
            setup: None,
        })
        .collect();
    if read == ReadMode::Serializable {
        let local = d.final_read.clone().expect("the example has final reads");
        d.read.as_mut().expect("the example reads").body = local.body;
    }
    d
}

/// `3.4.23`, from `etcd --version`.
fn version(etcd: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new(etcd)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.starts_with("etcd Version:"))?;
    Some(line.trim_start_matches("etcd Version:").trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_get_their_ports_and_serializable_reads_are_local() {
        let ports = [Ports { client: 1, peer: 2 }, Ports { client: 3, peer: 4 }];
        let etcd = vec![std::path::PathBuf::from("/usr/bin/etcd"); 2];
        let d = described(&etcd, &ports, ReadMode::Serializable);
        assert_eq!(d.nodes.len(), 2);
        assert_eq!(d.nodes[1].url, "http://{ip}:3");
        let start = d.nodes[0].start.as_deref().unwrap();
        assert!(
            start.starts_with("exec /usr/bin/etcd --name n1 "),
            "{start}"
        );
        assert!(
            start.contains("--initial-cluster n1=http://{ip:n1}:2,n2=http://{ip:n2}:4 "),
            "{start}"
        );
        assert!(d
            .read
            .as_ref()
            .unwrap()
            .body
            .as_deref()
            .unwrap()
            .contains("\"serializable\": true"));
        let d = described(&etcd, &ports, ReadMode::Linearizable);
        assert!(!d
            .read
            .unwrap()
            .body
            .as_deref()
            .unwrap()
            .contains("serializable"));
    }
}
