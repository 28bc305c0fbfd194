//! Changing a launched etcd cluster's membership through etcd's own member API (the v3 JSON
//! gateway's `/v3/cluster/member/list|add|remove`), one member at a time, as an operator would.
//!
//! A member removed stops itself (etcd ends a member that learns it was removed); faultline
//! reaps it. A member added back is a *new* member to etcd: it is added by its peer URL, then
//! started from an empty data directory with `--initial-cluster-state existing` and an
//! `--initial-cluster` that lists exactly the members etcd then has. Each change is confirmed by
//! the member list of another member: the name gone, or the name back and started.

use crate::launched::LaunchedNodes;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A member as etcd lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// Empty until an added member has started.
    pub name: String,
    pub peer_urls: Vec<String>,
}

/// Whether `nodes` are etcd members faultline launched (their start commands give etcd's
/// cluster flags), whose membership it can change.
pub fn applies(nodes: &LaunchedNodes) -> bool {
    (0..nodes.len()).all(|i| {
        nodes.start_command(i).is_some_and(|s| {
            s.contains("--initial-cluster ") && s.contains("--initial-advertise-peer-urls ")
        })
    })
}

/// The members in a `member/list` (or `member/add`) answer.
pub fn parse_members(body: &Value) -> Result<Vec<Member>, String> {
    let list = body["members"]
        .as_array()
        .ok_or_else(|| format!("no \"members\" in etcd's answer: {body}"))?;
    list.iter()
        .map(|m| {
            // uint64 travels as a string through the JSON gateway.
            let id = match &m["ID"] {
                Value::String(s) => s.parse().ok(),
                v => v.as_u64(),
            }
            .ok_or_else(|| format!("a member without an ID: {m}"))?;
            let peer_urls = m["peerURLs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Member {
                id,
                name: m["name"].as_str().unwrap_or_default().to_string(),
                peer_urls,
            })
        })
        .collect()
}

/// The value of `--flag VALUE` in a command line.
fn flag<'a>(command: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = command.split_whitespace();
    words.by_ref().find(|w| *w == flag)?;
    words.next()
}

/// `command` with `--flag`'s value replaced by `value`.
fn with_flag(command: &str, flag: &str, value: &str) -> String {
    let mut out = Vec::new();
    let mut words = command.split_whitespace();
    while let Some(w) = words.next() {
        out.push(w.to_string());
        if w == flag {
            words.next();
            out.push(value.to_string());
        }
    }
    out.join(" ")
}

/// The start command for member `name` rejoining as a new member of `members`.
pub fn rejoin_command(start: &str, name: &str, peer_url: &str, members: &[Member]) -> String {
    let cluster = members
        .iter()
        .map(|m| {
            let who = if m.name.is_empty() { name } else { &m.name };
            let url = m.peer_urls.first().map_or(peer_url, String::as_str);
            format!("{who}={url}")
        })
        .collect::<Vec<_>>()
        .join(",");
    let start = with_flag(start, "--initial-cluster", &cluster);
    with_flag(&start, "--initial-cluster-state", "existing")
}

/// One of etcd's member calls, through any running member but `skip`.
fn call(nodes: &LaunchedNodes, skip: usize, path: &str, body: &Value) -> Result<Value, String> {
    nodes
        .ask_others(skip, "POST", path, Some(&body.to_string()))
        .map(|r| r.body)
}

fn list(nodes: &LaunchedNodes, skip: usize) -> Result<Vec<Member>, String> {
    parse_members(&call(nodes, skip, "/v3/cluster/member/list", &json!({}))?)
}

fn names(members: &[Member]) -> String {
    members
        .iter()
        .map(|m| {
            if m.name.is_empty() {
                "(unstarted)"
            } else {
                &m.name
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes member `i` and waits until another member's list no longer has it; its process,
/// which stops itself, is reaped.
pub fn remove(nodes: &mut LaunchedNodes, i: usize, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let name = nodes.nodes[i].name.clone();
    let mut last = String::new();
    while Instant::now() < deadline {
        match list(nodes, i) {
            Ok(members) => match members.iter().find(|m| m.name == name) {
                None => {
                    nodes.kill(i)?;
                    return Ok(format!("etcd's member list: {}", names(&members)));
                }
                Some(m) => {
                    if let Err(e) = call(
                        nodes,
                        i,
                        "/v3/cluster/member/remove",
                        &json!({"ID": m.id.to_string()}),
                    ) {
                        last = e;
                    }
                }
            },
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{name} was not removed within {} ms (last: {last})",
        timeout.as_millis()
    ))
}

/// Adds member `i` back as a new member: added by its peer URL, started afresh with
/// `--initial-cluster-state existing`, and confirmed once another member lists it started.
pub fn add(nodes: &mut LaunchedNodes, i: usize, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let name = nodes.nodes[i].name.clone();
    let start = nodes
        .start_command(i)
        .ok_or_else(|| format!("{name} has no start command"))?
        .to_string();
    let peer_url = flag(&start, "--initial-advertise-peer-urls")
        .ok_or_else(|| format!("{name}'s start command gives no --initial-advertise-peer-urls"))?
        .to_string();
    let mut started = false;
    let mut last = String::new();
    while Instant::now() < deadline {
        match list(nodes, i) {
            Ok(members) => {
                let ours = members.iter().find(|m| m.peer_urls.contains(&peer_url));
                match ours {
                    Some(m) if m.name == name => {
                        return Ok(format!("etcd's member list: {}", names(&members)))
                    }
                    Some(_) if !started => {
                        let command = rejoin_command(&start, &name, &peer_url, &members);
                        nodes
                            .start_afresh(i, command)
                            .map_err(|e| format!("start {name} again: {e}"))?;
                        started = true;
                    }
                    Some(_) => {}
                    None => {
                        let body = json!({"peerURLs": [peer_url]});
                        if let Err(e) = call(nodes, i, "/v3/cluster/member/add", &body) {
                            last = e;
                        }
                    }
                }
            }
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{name} was not added back within {} ms (last: {last}; see {})",
        timeout.as_millis(),
        nodes.nodes[i].log_path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_read_from_the_gateway_and_a_rejoin_lists_exactly_them() {
        let body = json!({"members": [
            {"ID": "10276657743932975437", "name": "n1", "peerURLs": ["http://127.0.0.1:2380"]},
            {"ID": "123", "peerURLs": ["http://127.0.0.1:2382"]},
        ]});
        let members = parse_members(&body).unwrap();
        assert_eq!(members[0].id, 10276657743932975437);
        assert_eq!(members[1].name, "");
        let start = "exec etcd --name n3 --initial-advertise-peer-urls http://127.0.0.1:2382 \
                     --initial-cluster n1=http://127.0.0.1:2380,n2=x,n3=http://127.0.0.1:2382 \
                     --initial-cluster-state new --initial-cluster-token faultline";
        let again = rejoin_command(start, "n3", "http://127.0.0.1:2382", &members);
        assert!(
            again.contains("--initial-cluster n1=http://127.0.0.1:2380,n3=http://127.0.0.1:2382 "),
            "{again}"
        );
        assert!(
            again.contains("--initial-cluster-state existing "),
            "{again}"
        );
        assert_eq!(
            flag(&again, "--initial-advertise-peer-urls"),
            Some("http://127.0.0.1:2382")
        );
        assert!(parse_members(&json!({}))
            .unwrap_err()
            .contains("no \"members\""));
    }
}
