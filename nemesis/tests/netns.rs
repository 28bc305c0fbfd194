//! Kernel partitions, told as a story with plain sockets: three namespaces on a bridge; node 1
//! listens; node 2 reaches it; node 1 is isolated and node 2 cannot; the network heals and node 2
//! can again. Needs root, iproute2 and nftables (the test command installs them).

use nemesis::netns::{self, NamespaceNet};
use nemesis::{Grudge, Net};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

/// Runs `f` on a thread that has entered the namespace at `path` (setns affects one thread).
fn in_namespace<T: Send + 'static>(path: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = File::open(path).expect("namespace file");
    std::thread::spawn(move || {
        // setns affects this thread only.
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("namespace thread")
}

/// From inside `path`, connect to `to`, send a line, and read it echoed back within 1 s.
fn message_crosses(path: &Path, to: SocketAddr) -> bool {
    in_namespace(path, move || {
        let Ok(mut s) = TcpStream::connect_timeout(&to, Duration::from_millis(700)) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        if s.write_all(b"ping").is_err() {
            return false;
        }
        let mut buf = [0u8; 4];
        matches!(s.read_exact(&mut buf), Ok(()) if &buf == b"ping")
    })
}

fn prefix() -> String {
    format!("flt{:x}", std::process::id() & 0xffff)
}

#[test]
fn kernel_partitions_cut_plain_tcp_and_healing_restores_it() {
    if let Err(e) = netns::check_available() {
        panic!("{e}");
    }
    let mut net = NamespaceNet::create(&prefix(), 3).expect("namespaces build");
    let names = net.namespaces().to_vec();
    let bridge = net.bridge().map(str::to_string);

    // Node 1 runs an echo server in its namespace.
    let addr = SocketAddr::new(net.addr(0).into(), 7000);
    let listener = in_namespace(&net.path(0), move || TcpListener::bind(addr).expect("bind"));
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let mut buf = [0u8; 4];
            if c.read_exact(&mut buf).is_ok() {
                let _ = c.write_all(&buf);
            }
        }
    });

    assert!(
        message_crosses(&net.path(1), addr),
        "n2 reaches n1 at first"
    );
    net.partition(&Grudge::from_components(3, &[vec![0], vec![1, 2]]))
        .unwrap();
    assert!(
        net.ruleset(0).unwrap().contains("drop"),
        "n1 has drop rules"
    );
    assert!(
        !message_crosses(&net.path(1), addr),
        "n2 cannot reach isolated n1"
    );
    assert!(!message_crosses(&net.path(2), addr), "nor can n3");
    net.heal().unwrap();
    assert!(!net.ruleset(0).unwrap().contains("drop"), "rules flushed");
    assert!(message_crosses(&net.path(1), addr), "healed");

    // A one-way grudge: n1 drops n2 only; n3 still gets through.
    net.partition(&Grudge::from_components(3, &[vec![0, 2], vec![1, 2]]))
        .unwrap();
    assert!(!message_crosses(&net.path(1), addr));
    assert!(message_crosses(&net.path(2), addr));

    drop(net);
    let left = netns::list_namespaces();
    assert!(
        names.iter().all(|n| !left.contains(n)),
        "namespaces removed"
    );
    assert!(
        !netns::link_exists(bridge.as_deref().unwrap()),
        "bridge removed"
    );
}
