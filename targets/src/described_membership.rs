//! Changing a described service's membership with the requests its target file gives in
//! `[members]` (list, add, remove), one member at a time. Each request goes to a node other
//! than the one changed (the first that answers 2xx), and each change is confirmed by the list
//! as another node gives it: the name gone, or the name back.

use crate::described::{MemberCall, MembersDesc};
use crate::launched::LaunchedNodes;
use std::time::{Duration, Instant};

/// The `[members]` requests, when the file gives them.
fn requests(nodes: &LaunchedNodes) -> Result<MembersDesc, String> {
    nodes
        .desc
        .members
        .clone()
        .ok_or_else(|| "the target file has no [members] requests".to_string())
}

/// `template` with `{member}` and `{member_url}` filled in for node `i`.
fn fill(template: &str, nodes: &LaunchedNodes, i: usize) -> String {
    let n = &nodes.nodes[i];
    template
        .replace("{member}", &n.name)
        .replace("{member_url}", &n.base.url(""))
}

/// Sends `call` (about node `i`) to the first other node that answers 2xx.
fn send(nodes: &LaunchedNodes, i: usize, call: &MemberCall) -> Result<(), String> {
    let path = fill(&call.path, nodes, i);
    let body = call.body.as_deref().map(|b| fill(b, nodes, i));
    nodes
        .ask_others(i, &call.method, &path, body.as_deref())
        .map(|_| ())
}

/// The member names as another node than `i` lists them.
fn list(nodes: &LaunchedNodes, i: usize, m: &MembersDesc) -> Result<Vec<String>, String> {
    let l = &m.list;
    let r = nodes.ask_others(i, &l.method, &l.path, l.body.as_deref())?;
    l.names(&r.body)
}

/// Makes node `i` leave (`remove`) or join (`!remove`), asking until the list shows it.
fn change(
    nodes: &LaunchedNodes,
    i: usize,
    remove: bool,
    timeout: Duration,
) -> Result<String, String> {
    let m = requests(nodes)?;
    let name = nodes.nodes[i].name.clone();
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match list(nodes, i, &m) {
            Ok(names) if names.contains(&name) != remove => {
                return Ok(format!("the member list: {}", names.join(" ")))
            }
            Ok(_) => {
                let call = if remove { &m.remove } else { &m.add };
                if let Err(e) = send(nodes, i, call) {
                    last = e;
                }
            }
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let verb = if remove { "removed" } else { "added back" };
    Err(format!(
        "{name} was not {verb} within {} ms (last: {last})",
        timeout.as_millis()
    ))
}

/// Whether the file describes membership requests.
pub fn applies(nodes: &LaunchedNodes) -> bool {
    nodes.desc.members.is_some()
}

pub fn remove(nodes: &LaunchedNodes, i: usize, timeout: Duration) -> Result<String, String> {
    change(nodes, i, true, timeout)
}

pub fn add(nodes: &LaunchedNodes, i: usize, timeout: Duration) -> Result<String, String> {
    change(nodes, i, false, timeout)
}
