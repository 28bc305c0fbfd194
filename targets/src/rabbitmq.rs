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

/// One broker from `server`, on `ports`, whose workload queue is of `queue`'s kind.
pub fn described(server: &Path, epmd: &Path, ports: Ports, queue: QueueKind) -> Described {
    Described {
        name: format!(
            "RabbitMQ {} ({} queue)",
            version().unwrap_or_default(),
            queue.name()
        ),
        nodes: vec![NodeDesc {
            name: "n1".into(),
            url: format!("amqp://{{ip}}:{}", ports.amqp),
            start: Some(start_command(server, epmd, ports)),
            stop: None,
            health: None,
            pid: None,
            setup: None,
        }],
        amqp: Some(AmqpDesc {
            queue,
            user: "guest".into(),
            password: "guest".into(),
            vhost: "/".into(),
        }),
        ..Described::empty()
    }
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
    format!(
        "set -e; cd {{data_dir}}; mkdir -p mnesia log; printf '[].\\n' > enabled_plugins; printf '{conf}' > rabbitmq.conf; \
         export HOME={{data_dir}} ERL_EPMD_PORT={epmd_port} RABBITMQ_NODENAME=faultline-{amqp}@localhost \
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
            ports,
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
}
