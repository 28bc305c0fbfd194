//! Partitions without privileges: a TCP proxy on every directed link between nodes.
//!
//! Node `i` is told that peer `j` lives at [`ProxyNet::addr`]`(i, j)`, a loopback port of this
//! process that forwards to `j`'s real peer port. A link that is cut black-holes: connections are
//! still accepted (as a switch that drops packets would not refuse them), everything sent is read
//! and thrown away, and nothing reaches the peer. Cutting or healing a link closes the connections
//! it had, so no half-delivered stream survives a change and the nodes reconnect afresh.
//!
//! A link can also delay every chunk it forwards by a fixed latency, and lose traffic. A byte
//! stream cannot lose a packet and stay a stream, so loss here means what a lost segment looks
//! like to a program after retransmission gives up: with the given probability per chunk
//! forwarded, the connection is torn down.
//!
//! The proxy lives in the harness process: if the harness dies, every link goes with it.

use crate::fault::Grudge;
use crate::Net;
use base::Rng;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One directed link.
struct Link {
    target: SocketAddr,
    cut: AtomicBool,
    latency_us: AtomicU64,
    /// Probability per chunk of tearing the connection down, in parts per million.
    loss_ppm: AtomicU64,
    /// Every socket of the link's live connections, to close them on a change.
    conns: Mutex<Vec<TcpStream>>,
    rng: Mutex<Rng>,
    /// Bytes forwarded and bytes dropped, for tests and reports.
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

impl Link {
    fn close_all(&self) {
        for s in self.conns.lock().expect("link lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn register(&self, s: &TcpStream) {
        if let Ok(c) = s.try_clone() {
            let mut conns = self.conns.lock().expect("link lock");
            // Forget sockets of connections that have ended.
            conns.retain(|c| c.peer_addr().is_ok());
            conns.push(c);
        }
    }

    /// Closes both ends of a proxied connection and forgets them. Only a full close reaches
    /// the nodes: the clones kept for [`Link::close_all`] would otherwise hold a connection
    /// whose far end died half-open for ever, and its sender (a node writing to a restarted
    /// peer) would never learn that it must reconnect.
    fn end(&self, a: &TcpStream, b: &TcpStream) {
        let ends = |s: &TcpStream| (s.local_addr().ok(), s.peer_addr().ok());
        let (ka, kb) = (ends(a), ends(b));
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
        self.conns
            .lock()
            .expect("link lock")
            .retain(|c| ends(c) != ka && ends(c) != kb);
    }

    fn lose(&self) -> bool {
        let ppm = self.loss_ppm.load(Ordering::Relaxed);
        ppm > 0 && self.rng.lock().expect("link lock").below(1_000_000) < ppm
    }
}

/// A proxy for every directed link among `n` nodes.
pub struct ProxyNet {
    links: HashMap<(usize, usize), (String, Arc<Link>)>,
    stop: Arc<AtomicBool>,
    acceptors: Vec<JoinHandle<()>>,
}

impl ProxyNet {
    /// Starts proxies for every ordered pair of the nodes whose real peer addresses are `peers`.
    pub fn start(peers: &[SocketAddr], seed: u64) -> std::io::Result<ProxyNet> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut net = ProxyNet {
            links: HashMap::new(),
            stop: stop.clone(),
            acceptors: Vec::new(),
        };
        let mut rng = Rng::new(seed);
        for (from, _) in peers.iter().enumerate() {
            for (to, &target) in peers.iter().enumerate() {
                if from == to {
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0")?;
                let addr = listener.local_addr()?.to_string();
                let link = Arc::new(Link {
                    target,
                    cut: AtomicBool::new(false),
                    latency_us: AtomicU64::new(0),
                    loss_ppm: AtomicU64::new(0),
                    conns: Mutex::new(Vec::new()),
                    rng: Mutex::new(rng.fork()),
                    forwarded: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                });
                let (l, s) = (link.clone(), stop.clone());
                net.acceptors.push(
                    std::thread::Builder::new()
                        .name(format!("proxy n{}->n{}", from + 1, to + 1))
                        .spawn(move || accept(listener, l, s))?,
                );
                net.links.insert((from, to), (addr, link));
            }
        }
        Ok(net)
    }

    /// Where node `from` should send to reach node `to`.
    pub fn addr(&self, from: usize, to: usize) -> &str {
        &self.links[&(from, to)].0
    }

    /// Delay every chunk on every link by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        for (_, l) in self.links.values() {
            l.latency_us
                .store(latency.as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Tear connections down with probability `p` per chunk forwarded.
    pub fn set_loss(&self, p: f64) {
        assert!((0.0..=1.0).contains(&p), "a probability");
        for (_, l) in self.links.values() {
            l.loss_ppm
                .store((p * 1_000_000.0) as u64, Ordering::Relaxed);
        }
    }

    /// Bytes forwarded and dropped on the link `from → to` so far.
    pub fn traffic(&self, from: usize, to: usize) -> (u64, u64) {
        let l = &self.links[&(from, to)].1;
        (
            l.forwarded.load(Ordering::Relaxed),
            l.dropped.load(Ordering::Relaxed),
        )
    }

    fn set(&self, cut: impl Fn(usize, usize) -> bool) {
        for (&(from, to), (_, link)) in &self.links {
            let want = cut(from, to);
            if link.cut.swap(want, Ordering::SeqCst) != want {
                link.close_all();
            }
        }
    }
}

impl Net for ProxyNet {
    fn mechanism(&self) -> &'static str {
        "proxy"
    }

    fn partition(&mut self, grudge: &Grudge) -> std::io::Result<()> {
        self.set(|from, to| grudge.cuts(from, to));
        Ok(())
    }

    fn heal(&mut self) -> std::io::Result<()> {
        self.set(|_, _| false);
        Ok(())
    }
}

impl Drop for ProxyNet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for (addr, link) in self.links.values() {
            // Wake the acceptor so it sees the flag.
            let _ = TcpStream::connect_timeout(
                &addr.parse().expect("our own address"),
                Duration::from_millis(200),
            );
            link.close_all();
        }
        for t in self.acceptors.drain(..) {
            let _ = t.join();
        }
    }
}

fn accept(listener: TcpListener, link: Arc<Link>, stop: Arc<AtomicBool>) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let _ = conn.set_nodelay(true);
        link.register(&conn);
        let link = link.clone();
        let spawned = std::thread::Builder::new()
            .name("proxy conn".into())
            .spawn(move || serve(conn, link));
        if spawned.is_err() {
            // Out of threads: the connection is simply dropped, as a lossy network would.
            continue;
        }
    }
}

/// Handles one accepted connection until it ends or the link changes.
fn serve(downstream: TcpStream, link: Arc<Link>) {
    if link.cut.load(Ordering::SeqCst) {
        sink(downstream, &link);
        return;
    }
    let Ok(upstream) = TcpStream::connect_timeout(&link.target, Duration::from_millis(500)) else {
        let _ = downstream.shutdown(Shutdown::Both);
        return;
    };
    let _ = upstream.set_nodelay(true);
    link.register(&upstream);
    // A change of the link between the check above and registering closes both ends.
    if link.cut.load(Ordering::SeqCst) {
        let _ = upstream.shutdown(Shutdown::Both);
        let _ = downstream.shutdown(Shutdown::Both);
        return;
    }
    let (Ok(down2), Ok(up2)) = (downstream.try_clone(), upstream.try_clone()) else {
        return;
    };
    let back_link = link.clone();
    let back = std::thread::Builder::new()
        .name("proxy back".into())
        .spawn(move || pump(up2, down2, &back_link));
    let (Ok(down3), Ok(up3)) = (downstream.try_clone(), upstream.try_clone()) else {
        link.end(&downstream, &upstream);
        return;
    };
    pump(down3, up3, &link);
    if let Ok(t) = back {
        let _ = t.join();
    }
    link.end(&downstream, &upstream);
}

/// Reads everything and forwards nothing.
fn sink(mut conn: TcpStream, link: &Link) {
    let mut buf = [0u8; 16 << 10];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        link.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Copies `from` to `to`, each chunk delayed by the link's latency, until either end closes or
/// fails; then both sockets are shut down, which ends the other direction's pump too. Node
/// connections carry messages one way, so a half-closed connection is of no use to anyone, and a
/// sender must see its connection die when its peer did.
fn pump(mut from: TcpStream, to: TcpStream, link: &Arc<Link>) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer_link = link.clone();
    let (Ok(mut to_w), Ok(from_w)) = (to.try_clone(), from.try_clone()) else {
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
        return;
    };
    let writer = std::thread::Builder::new()
        .name("proxy write".into())
        .spawn(move || {
            for (read_at, chunk) in rx {
                let latency = Duration::from_micros(writer_link.latency_us.load(Ordering::Relaxed));
                let due = read_at + latency;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if to_w.write_all(&chunk).is_err() {
                    // The destination is gone: unblock the reader, so the sender learns it.
                    let _ = from_w.shutdown(Shutdown::Both);
                    break;
                }
                writer_link
                    .forwarded
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        });
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if link.cut.load(Ordering::SeqCst) || link.lose() {
            break;
        }
        if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    if let Ok(w) = writer {
        let _ = w.join();
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// A line echo server standing in for a node's peer port.
    fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut w = c.try_clone().unwrap();
                    for line in std::io::BufReader::new(c).lines() {
                        let Ok(line) = line else { break };
                        if writeln!(w, "{line}").is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    /// Sends a line through the proxy and waits up to `wait` for its echo.
    fn round_trip(addr: &str, wait: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut s = TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(wait)).unwrap();
        writeln!(s, "hello").ok()?;
        let mut line = String::new();
        std::io::BufReader::new(s).read_line(&mut line).ok()?;
        (line == "hello\n").then(|| started.elapsed())
    }

    #[test]
    fn a_cut_link_black_holes_and_healing_restores_it() {
        let peers = [echo_server(), echo_server(), echo_server()];
        let mut net = ProxyNet::start(&peers, 1).unwrap();
        let wait = Duration::from_millis(500);
        assert!(round_trip(net.addr(0, 1), wait).is_some(), "healthy link");

        // Isolate node 0: 0→1 carries nothing; 1→2 is untouched.
        let grudge = Grudge::from_components(3, &[vec![0], vec![1, 2]]);
        net.partition(&grudge).unwrap();
        assert_eq!(round_trip(net.addr(0, 1), wait), None, "cut link");
        assert_eq!(round_trip(net.addr(1, 0), wait), None, "cut both ways");
        assert!(round_trip(net.addr(1, 2), wait).is_some(), "other links");
        assert!(
            net.traffic(0, 1).1 > 0,
            "the cut link read and dropped the line"
        );

        net.heal().unwrap();
        assert!(round_trip(net.addr(0, 1), wait).is_some(), "healed");
    }

    #[test]
    fn a_sender_learns_that_its_peer_died() {
        // The peer accepts one connection, reads a little, and dies (as a killed node does).
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut buf = [0u8; 16];
            let _ = c.read(&mut buf);
            drop(c);
            drop(listener);
        });
        let net = ProxyNet::start(&[echo_server(), peer], 1).unwrap();
        let mut s = TcpStream::connect(net.addr(0, 1)).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
        // A node only writes to its peers; its writes must start failing, so that it reconnects,
        // rather than filling buffers of a connection that leads nowhere.
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut failed = false;
        while Instant::now() < deadline {
            if s.write_all(&[7u8; 1024]).is_err() {
                failed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            failed,
            "writes through the proxy to a dead peer kept succeeding"
        );
    }

    #[test]
    fn cutting_a_link_closes_its_open_connections() {
        let peers = [echo_server(), echo_server()];
        let mut net = ProxyNet::start(&peers, 1).unwrap();
        let mut s = TcpStream::connect(net.addr(0, 1)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        writeln!(s, "one").unwrap();
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "one\n");
        net.partition(&Grudge::from_components(2, &[vec![0], vec![1]]))
            .unwrap();
        line.clear();
        // The open connection ends (EOF or reset), it does not hang.
        let n = r.read_line(&mut line).unwrap_or(0);
        assert_eq!(n, 0, "connection closed by the cut");
    }

    #[test]
    fn latency_delays_each_message() {
        let peers = [echo_server(), echo_server()];
        let net = ProxyNet::start(&peers, 1).unwrap();
        net.set_latency(Duration::from_millis(100));
        let rtt = round_trip(net.addr(0, 1), Duration::from_secs(2)).expect("delivered");
        // Both directions of a proxied connection are delayed: the line and its echo.
        assert!(rtt >= Duration::from_millis(200), "rtt {rtt:?}");
    }

    #[test]
    fn total_loss_tears_every_connection_down() {
        let peers = [echo_server(), echo_server()];
        let net = ProxyNet::start(&peers, 1).unwrap();
        net.set_loss(1.0);
        assert_eq!(round_trip(net.addr(0, 1), Duration::from_millis(500)), None);
        net.set_loss(0.0);
        assert!(round_trip(net.addr(0, 1), Duration::from_millis(500)).is_some());
    }
}
