//! `--target zookeeper`: a ZooKeeper ensemble (Debian's `zookeeper`) that faultline starts as
//! local processes, one server per node in the run's `nodes/`, driven as a register store
//! ([`crate::zk`]).
//!
//! Each server gets a `zoo.cfg` and a `myid` in its data directory, written by its start
//! command, and runs in the foreground (`zkServer.sh start-foreground`) with a small heap. The
//! ensemble's timing is shortened so that faults show within a short run: a tick of 200 ms,
//! followers that lose the leader for 5 ticks (1 s) look for another. The leader is found by
//! asking each server `srvr` (ZooKeeper's four-letter command) for its mode.

use crate::described::{Described, NodeDesc};
use crate::zk::{ReadMode, ZkDesc};
use std::path::{Path, PathBuf};

/// Where Debian puts the server's start script.
const DEBIAN: &str = "/usr/share/zookeeper/bin/zkServer.sh";

/// The server's start script, or what to install.
pub fn binary() -> Result<PathBuf, String> {
    let script = PathBuf::from(DEBIAN);
    match script.is_file() && Path::new("/usr/bin/java").exists() {
        true => Ok(script),
        false => Err("ZooKeeper not found (/usr/share/zookeeper/bin/zkServer.sh and java): install Debian's zookeeper (as root: apt-get install zookeeper)".into()),
    }
}

/// The ports one server listens on: clients, the quorum (followers to the leader), election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub client: u16,
    pub quorum: u16,
    pub election: u16,
}

impl Ports {
    /// ZooKeeper's own, for servers that each have an address of their own.
    pub const STANDARD: Ports = Ports {
        client: 2181,
        quorum: 2888,
        election: 3888,
    };
}

/// The server's version, as its package says (`3.8.0`).
pub fn version() -> Option<String> {
    crate::debian_version("zookeeper")
}

/// An ensemble of one server per entry of `ports`, read as `read` says.
pub fn described(script: &Path, ports: &[Ports], read: ReadMode) -> Described {
    let names: Vec<String> = (1..=ports.len()).map(|i| format!("n{i}")).collect();
    let servers: String = names
        .iter()
        .zip(ports)
        .enumerate()
        .map(|(i, (name, p))| {
            format!(
                "server.{}={{ip:{name}}}:{}:{}\\n",
                i + 1,
                p.quorum,
                p.election
            )
        })
        .collect();
    let nodes = names
        .iter()
        .zip(ports)
        .enumerate()
        .map(|(i, (name, p))| NodeDesc {
            name: name.clone(),
            url: format!("zk://{{ip}}:{}", p.client),
            start: Some(start_command(script, i + 1, p, &servers)),
            stop: None,
            health: None,
            pid: None,
            setup: None,
        })
        .collect();
    Described {
        name: format!(
            "ZooKeeper {}, {} servers ({} reads)",
            version().unwrap_or_default(),
            ports.len(),
            read.name()
        ),
        nodes,
        leader_command: Some(leader_command(&names, ports)),
        zookeeper: Some(ZkDesc { read }),
        ..Described::empty()
    }
}

/// Writes the server's `zoo.cfg` and `myid` and runs it in the foreground.
fn start_command(script: &Path, id: usize, p: &Ports, servers: &str) -> String {
    let cfg = format!(
        "tickTime=500\\ninitLimit=10\\nsyncLimit=5\\ndataDir={{data_dir}}\\nclientPort={}\\nclientPortAddress={{ip}}\\n\
         maxClientCnxns=0\\nminSessionTimeout=1000\\nmaxSessionTimeout=10000\\nadmin.enableServer=false\\n\
         4lw.commands.whitelist=srvr,ruok\\nforceSync=yes\\n{servers}",
        p.client
    );
    format!(
        "set -e; cd {{data_dir}}; printf '{cfg}' > zoo.cfg; echo {id} > myid; \
         export ZOO_LOG_DIR={{data_dir}} JVMFLAGS='-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1'; \
         exec {script} start-foreground {{data_dir}}/zoo.cfg",
        script = script.display()
    )
}

/// Prints the name of the server whose `srvr` says it leads.
fn leader_command(names: &[String], ports: &[Ports]) -> String {
    let asks: Vec<String> = names
        .iter()
        .zip(ports)
        .map(|(name, p)| {
            format!(
                "timeout 1 bash -c 'exec 3<>/dev/tcp/{{ip:{name}}}/{}; printf srvr >&3; cat <&3' 2>/dev/null | grep -q \"^Mode: leader\" && echo {name} && exit 0",
                p.client
            )
        })
        .collect();
    format!("{}; exit 1", asks.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_knows_the_ensemble_and_the_leader_is_asked_of_each() {
        let ports = [
            Ports {
                client: 1,
                quorum: 2,
                election: 3,
            },
            Ports {
                client: 4,
                quorum: 5,
                election: 6,
            },
        ];
        let d = described(Path::new(DEBIAN), &ports, ReadMode::Sync);
        let start = d.nodes[1].start.as_deref().unwrap();
        for part in [
            "server.1={ip:n1}:2:3",
            "server.2={ip:n2}:5:6",
            "clientPort=4",
            "echo 2 > myid",
            "exec /usr/share/zookeeper/bin/zkServer.sh start-foreground {data_dir}/zoo.cfg",
        ] {
            assert!(start.contains(part), "{part} not in {start}");
        }
        assert_eq!(d.nodes[0].url, "zk://{ip}:1");
        let leader = d.leader_command.unwrap();
        assert!(
            leader.contains("/dev/tcp/{ip:n2}/4") && leader.contains("echo n2"),
            "{leader}"
        );
        assert!(d.name.ends_with("2 servers (sync reads)"), "{}", d.name);
    }
}
