//! `--target rabbitmq`: a RabbitMQ broker (Debian's `rabbitmq-server`) that faultline starts
//! as a local process in the run's `nodes/n1`, driven over AMQP 0.9.1 ([`crate::amqp`]).
//!
//! The broker is an Erlang node, and Erlang nodes find each other through `epmd`, which Erlang
//! starts as a daemon that outlives everything. faultline starts its own `epmd` on a port of
//! its own inside the node's process group instead, so a kill takes both down, a restart
//! brings both back, and nothing is left behind when the run ends. Everything the broker
//! writes — its Mnesia database, the message store, its logs and its Erlang cookie — lives in
//! the node's data directory, so a restart after `kill -9` recovers from what was on disk.

use crate::amqp::{AmqpDesc, QueueKind};
use crate::described::{Described, NodeDesc};
use std::path::{Path, PathBuf};

/// Where Debian puts the broker's start script.
const DEBIAN: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// The broker's start script and `epmd`, or what to install.
pub fn binaries() -> Result<(PathBuf, PathBuf), String> {
    let server = PathBuf::from(DEBIAN);
    let epmd = ["/usr/bin/epmd", "/usr/lib/erlang/bin/epmd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    match (server.is_file(), epmd) {
        (true, Some(epmd)) => Ok((server, epmd)),
        _ => Err("RabbitMQ not found (/usr/lib/rabbitmq/bin/rabbitmq-server and epmd): install Debian's rabbitmq-server (as root: apt-get install rabbitmq-server)".into()),
    }
}

/// The ports one broker listens on: AMQP, Erlang distribution, and its own `epmd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub amqp: u16,
    pub dist: u16,
    pub epmd: u16,
}

/// The broker's version, as its package says (`3.10.8`).
pub fn version() -> Option<String> {
    crate::debian_version("rabbitmq-server")
}

/// How the brokers are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One broker on loopback, on ports of its own.
    One(Ports),
    /// A cluster of this many nodes, each with an address of its own (a network namespace)
    /// and RabbitMQ's standard ports.
    Cluster(usize),
}

/// AMQP's and Erlang distribution's standard ports, and epmd's.
pub const STANDARD: Ports = Ports {
    amqp: 5672,
    dist: 25672,
    epmd: 4369,
};

/// The brokers from `server`, laid out as `layout` says, whose workload queue is of `queue`'s
/// kind.
pub fn described(server: &Path, epmd: &Path, layout: Layout, queue: QueueKind) -> Described {
    let (n, ports) = match layout {
        Layout::One(p) => (1, p),
        Layout::Cluster(n) => (n, STANDARD),
    };
    let nodes = (1..=n)
        .map(|i| NodeDesc {
            name: format!("n{i}"),
            url: format!("amqp://{{ip}}:{}", ports.amqp),
            start: Some(match layout {
                Layout::One(p) => start_command(server, epmd, p),
                Layout::Cluster(n) => cluster_start_command(server, epmd, n),
            }),
            stop: None,
            health: None,
            pid: None,
            setup: None,
        })
        .collect();
    let shape = match n {
        1 => String::new(),
        n => format!(", {n} nodes"),
    };
    Described {
        name: format!(
            "RabbitMQ {} ({} queue{shape})",
            version().unwrap_or_default(),
            queue.name()
        ),
        nodes,
        amqp: Some(AmqpDesc {
            queue,
            user: "guest".into(),
            password: "guest".into(),
            vhost: "/".into(),
        }),
        ..Described::empty()
    }
}

/// The environment and files every broker needs in its data directory, then its own `epmd`
/// (on `epmd_port`) once it answers, then the broker: `conf` is its `rabbitmq.conf`, `name`
/// its Erlang node name, `before` what to do first (a cluster's shared cookie).
fn broker_command(
    server: &Path,
    epmd: &Path,
    p: Ports,
    conf: &str,
    name: &str,
    before: &str,
) -> String {
    format!(
        "set -e; cd {{data_dir}}; mkdir -p mnesia log; printf '[].\\n' > enabled_plugins; printf '{conf}' > rabbitmq.conf; {before}\
         export HOME={{data_dir}} ERL_EPMD_PORT={epmd_port} RABBITMQ_NODENAME={name} \
         RABBITMQ_NODE_IP_ADDRESS={{ip}} RABBITMQ_NODE_PORT={amqp} RABBITMQ_DIST_PORT={dist} \
         RABBITMQ_MNESIA_BASE={{data_dir}}/mnesia RABBITMQ_LOG_BASE={{data_dir}}/log \
         RABBITMQ_CONFIG_FILE={{data_dir}}/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE={{data_dir}}/enabled_plugins \
         RABBITMQ_PID_FILE={{data_dir}}/pid; \
         {epmd} -port {epmd_port} & \
         until {epmd} -port {epmd_port} -names >/dev/null 2>&1; do sleep 0.05; done; \
         exec {server}",
        epmd_port = p.epmd,
        amqp = p.amqp,
        dist = p.dist,
        epmd = epmd.display(),
        server = server.display(),
    )
}

/// The shell command that writes the broker's configuration into its data directory and runs
/// it in the foreground beside its own `epmd` — once that `epmd` answers: a broker that found
/// none would start a daemon of its own, outside the node's process group, and it would
/// outlive the run.
fn start_command(server: &Path, epmd: &Path, p: Ports) -> String {
    let conf = format!(
        "loopback_users = none\\nlisteners.tcp.default = {{ip}}:{}\\ndistribution.listener.port_range.min = {}\\ndistribution.listener.port_range.max = {}\\n",
        p.amqp, p.dist, p.dist
    );
    let name = format!("faultline-{}@localhost", p.amqp);
    broker_command(server, epmd, p, &conf, &name, "")
}

/// A cluster node's start command: named by its address (Erlang's long names), its `epmd` on
/// the standard port of its own namespace, the cluster's members listed in its configuration
/// (RabbitMQ forms the cluster as they boot, one of them first under a lock), a cookie shared
/// by all, and `pause_minority`: a node cut off from most of the cluster stops serving.
fn cluster_start_command(server: &Path, epmd: &Path, n: usize) -> String {
    let p = STANDARD;
    let mut conf = format!(
        "loopback_users = none\\nlisteners.tcp.default = {{ip}}:{}\\ndistribution.listener.port_range.min = {}\\ndistribution.listener.port_range.max = {}\\ncluster_partition_handling = pause_minority\\ncluster_formation.peer_discovery_backend = classic_config\\n",
        p.amqp, p.dist, p.dist
    );
    for i in 1..=n {
        conf.push_str(&format!(
            "cluster_formation.classic_config.nodes.{i} = faultline@{{ip:n{i}}}\\n"
        ));
    }
    let cookie = "[ -f .erlang.cookie ] || { printf faultlinecluster > .erlang.cookie; chmod 400 .erlang.cookie; }; export RABBITMQ_USE_LONGNAME=true; ";
    broker_command(
        server,
        epmd,
        p,
        &conf,
        "faultline@{ip}",
        &format!("{cookie}{}", FIRST_BOOT),
    )
}

/// Before its first boot, a node other than n1 waits (up to 30 s) for n1 to serve: nodes that
/// all boot at once contend for the cluster-formation lock, and one was seen to wait on it past
/// any patience while the other two formed the cluster without it. Once n1 has formed the
/// cluster, the others join it; after a restart a node knows its cluster and waits for nobody.
const FIRST_BOOT: &str = "if [ ! -d mnesia/faultline@{ip} ] && [ {ip} != {ip:n1} ]; then \
     bash -c 'for t in $(seq 150); do (: < /dev/tcp/{ip:n1}/5672) 2>/dev/null && exit 0; sleep 0.2; done'; fi; ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_keeps_everything_in_its_data_directory_and_brings_its_own_epmd() {
        let ports = Ports {
            amqp: 25672,
            dist: 25673,
            epmd: 25674,
        };
        let d = described(
            Path::new(DEBIAN),
            Path::new("/usr/bin/epmd"),
            Layout::One(ports),
            QueueKind::Quorum,
        );
        let start = d.nodes[0].start.as_deref().unwrap();
        for part in [
            "RABBITMQ_MNESIA_BASE={data_dir}/mnesia",
            "HOME={data_dir}",
            "ERL_EPMD_PORT=25674",
            "/usr/bin/epmd -port 25674 & ",
            "until /usr/bin/epmd -port 25674 -names",
            "exec /usr/lib/rabbitmq/bin/rabbitmq-server",
            "listeners.tcp.default = {ip}:25672",
        ] {
            assert!(start.contains(part), "{part} not in {start}");
        }
        assert_eq!(d.nodes[0].url, "amqp://{ip}:25672");
        assert_eq!(d.amqp.unwrap().queue, QueueKind::Quorum);
        assert!(d.name.ends_with("(quorum queue)"), "{}", d.name);
    }

    #[test]
    fn a_cluster_lists_every_member_by_address_and_shares_one_cookie() {
        let d = described(
            Path::new(DEBIAN),
            Path::new("/usr/bin/epmd"),
            Layout::Cluster(3),
            QueueKind::Quorum,
        );
        assert_eq!(d.nodes.len(), 3);
        assert!(d.name.ends_with("(quorum queue, 3 nodes)"), "{}", d.name);
        let start = d.nodes[1].start.as_deref().unwrap();
        for part in [
            "RABBITMQ_NODENAME=faultline@{ip}",
            "RABBITMQ_USE_LONGNAME=true",
            "ERL_EPMD_PORT=4369",
            "cluster_formation.peer_discovery_backend = classic_config",
            "cluster_formation.classic_config.nodes.1 = faultline@{ip:n1}",
            "cluster_formation.classic_config.nodes.3 = faultline@{ip:n3}",
            "cluster_partition_handling = pause_minority",
            "printf faultlinecluster > .erlang.cookie; chmod 400 .erlang.cookie",
            "listeners.tcp.default = {ip}:5672",
        ] {
            assert!(start.contains(part), "{part} not in {start}");
        }
        assert_eq!(d.nodes[2].url, "amqp://{ip}:5672");
    }
}
