//! The running nodes as the nemesis sees them ([`Cluster`]): kill and restart, pause and
//! resume, the leader and each node's clock, membership changes through the target's API — one
//! set of mechanisms whatever launched the nodes (local processes, namespaces, SSH hosts).

use super::*;

impl Cluster for Nodes {
    fn size(&self) -> usize {
        match &self.cluster {
            Fleet::Raftkv(c) => c.nodes.len(),
            Fleet::Remote(c) => c.launched.len(),
            Fleet::Described(d) => d.len(),
        }
    }

    fn pid(&self, node: usize) -> Option<u32> {
        match &self.cluster {
            Fleet::Raftkv(c) => c.pid(node),
            Fleet::Remote(c) => c.launched.pid(node),
            Fleet::Described(d) => d.pid(node),
        }
    }

    fn pid_or_why(&self, node: usize) -> Result<u32, String> {
        match &self.cluster {
            Fleet::Remote(c) => c.launched.pid_or_why(node),
            Fleet::Described(d) => d.pid_or_why(node),
            Fleet::Raftkv(c) => c
                .pid(node)
                .ok_or_else(|| format!("n{} is not running", node + 1)),
        }
    }

    /// Described targets: every node started, then each waited for and set up — a service
    /// that needs a quorum to answer its health check (dqlite) cannot come back one node at a
    /// time. raftkv nodes come up on their own.
    fn restart_all(&mut self, nodes: &[usize]) -> Result<(), String> {
        let Fleet::Described(d) = &mut self.cluster else {
            return nemesis::restart_each(self, nodes);
        };
        for &node in nodes {
            d.start(node)
                .map_err(|e| format!("restart n{}: {e}", node + 1))?;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        for &node in nodes {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            d.wait_healthy(node, left)
                .and_then(|()| d.setup(node))
                .map_err(|e| format!("restart n{}: {e}", node + 1))?;
        }
        for &node in nodes {
            self.clock_started(node)
                .map_err(|e| format!("restart n{}: {e}", node + 1))?;
            self.record_pid(node);
        }
        Ok(())
    }

    fn kill(&mut self, node: usize) -> std::io::Result<()> {
        match &mut self.cluster {
            Fleet::Raftkv(c) => c.kill(node),
            Fleet::Remote(c) => c.launched.kill(node).map_err(std::io::Error::other)?,
            Fleet::Described(d) => d.kill(node).map_err(std::io::Error::other)?,
        }
        self.record_pid(node);
        Ok(())
    }

    fn restart(&mut self, node: usize) -> std::io::Result<()> {
        match &mut self.cluster {
            Fleet::Raftkv(c) => c.start_node(node)?,
            Fleet::Remote(c) => c.launched.start(node)?,
            Fleet::Described(d) => {
                d.start(node)?;
                // Load resumes on a node that serves, set up as at the start.
                d.wait_healthy(node, Duration::from_secs(20))
                    .and_then(|()| d.setup(node))
                    .map_err(std::io::Error::other)?;
            }
        }
        self.clock_started(node)?;
        self.record_pid(node);
        Ok(())
    }

    /// raftkv: the node that says it leads, in the highest term any node claims leadership
    /// in. Described systems: the node the leader probe picks.
    fn leader(&self) -> Option<usize> {
        match &self.cluster {
            Fleet::Raftkv(_) | Fleet::Remote(_) => self
                .statuses()?
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let s = s.as_ref()?;
                    (s["role"] == "leader").then(|| (s["term"].as_u64().unwrap_or(0), i))
                })
                .max()
                .map(|(_, i)| i),
            Fleet::Described(d) => d.leader(),
        }
    }

    fn wall_clock_ms(&self, node: usize) -> Option<f64> {
        match &self.cluster {
            Fleet::Raftkv(c) => c.status(node)?["wall_clock_ms"].as_f64(),
            Fleet::Remote(c) => c.status(node)?["wall_clock_ms"].as_f64(),
            Fleet::Described(d) => d.wall_clock_ms(node),
        }
    }

    fn pause(&mut self, node: usize, pid: u32) -> Result<(), String> {
        match self.host(node) {
            Some(h) => targets::host::stop_or_continue(h, pid, true),
            None => nemesis::process::pause(pid).map_err(|e| e.to_string()),
        }
    }

    fn resume(&mut self, node: usize, pid: u32) -> Result<(), String> {
        match self.host(node) {
            Some(h) => targets::host::stop_or_continue(h, pid, false),
            None => nemesis::process::resume(pid).map_err(|e| e.to_string()),
        }
    }

    fn is_paused(&self, node: usize, pid: u32) -> bool {
        match self.host(node) {
            Some(h) => targets::host::state(h, pid) == Ok(Some('T')),
            None => nemesis::process::is_stopped(pid),
        }
    }

    fn remove_member(&mut self, node: usize) -> Result<String, String> {
        self.change_members(MemberChange::Remove(node))
    }

    fn add_member(&mut self, node: usize) -> Result<String, String> {
        self.change_members(MemberChange::Add(node))
    }
}

impl Nodes {
    /// One change through the target's own membership API — raftkv's `/admin/members`,
    /// confirmed by the leader's own list, or etcd's member API, confirmed by another member's.
    fn change_members(&mut self, change: MemberChange) -> Result<String, String> {
        let nodes = match &mut self.cluster {
            Fleet::Raftkv(c) => c.member_nodes(),
            Fleet::Remote(c) => c.member_nodes(),
            Fleet::Described(d) if targets::etcd_membership::applies(d) => {
                let said = match change {
                    MemberChange::Remove(i) => {
                        targets::etcd_membership::remove(d, i, MEMBERSHIP_TIMEOUT)
                    }
                    MemberChange::Add(i) => targets::etcd_membership::add(d, i, MEMBERSHIP_TIMEOUT),
                };
                let node = match change {
                    MemberChange::Remove(i) | MemberChange::Add(i) => i,
                };
                self.record_pid(node);
                return said;
            }
            Fleet::Described(d) => {
                use targets::described_membership as file;
                return match change {
                    MemberChange::Remove(i) => file::remove(d, i, MEMBERSHIP_TIMEOUT),
                    MemberChange::Add(i) => file::add(d, i, MEMBERSHIP_TIMEOUT),
                };
            }
        };
        let v = targets::raftkv::cluster::change_members_of(&nodes, change, MEMBERSHIP_TIMEOUT)?;
        let names = |ids: &[u64]| {
            ids.iter()
                .map(|i| format!("n{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let learners = if v.learners.is_empty() {
            String::new()
        } else {
            format!(", learners {}", names(&v.learners))
        };
        Ok(format!(
            "n{}'s configuration at entry {}: voters {}{learners}",
            v.id,
            v.index,
            names(&v.voters)
        ))
    }
}
