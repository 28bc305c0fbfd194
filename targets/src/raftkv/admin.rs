//! raftkv's membership API on the client port, one server at a time (dissertation §4.1):
//!
//! ```text
//! GET    /admin/members        this node's view: voters, learners, the entry that set them
//! POST   /admin/members        {"id": 4, "addr": "127.0.0.1:7104", "client_addr": "127.0.0.1:7004"}
//! DELETE /admin/members/{id}
//! ```
//!
//! A node added joins as a learner (it must be running, started with `--join`); the leader
//! promotes it to voter once it holds the log. A change is accepted by the leader only (others
//! redirect with 307, or 503 without a known leader) and answered 202 with the log index of its
//! entry once appended; its effect is confirmed by reading the list until `committed` is true.
//! A change is refused with 409 and the reason while another is uncommitted, before the leader's
//! first entry of its term commits, or when it does not fit (a member added twice, the last voter
//! removed); a malformed request is a 400 saying what is wrong.

use super::log::{Address, Members};
use super::node::{Change, ChangeRefused, Node, NodeId};
use crate::http_server::{Request, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A request to the membership API.
#[derive(Clone, Debug, PartialEq)]
pub enum Admin {
    List,
    Add { id: NodeId, address: Address },
    Remove(NodeId),
}

/// Parses `/admin/members[/{id}]` (`rest` is what follows `/admin/members`).
pub fn parse(req: &Request, rest: &str) -> Result<Admin, Response> {
    match (req.method.as_str(), rest) {
        ("GET", "") => Ok(Admin::List),
        ("POST", "") => parse_add(&req.body),
        ("DELETE", id) if id.starts_with('/') => {
            let id = &id[1..];
            id.parse()
                .map(Admin::Remove)
                .map_err(|_| Response::error(400, &format!("{id:?} is not a node id (a number)")))
        }
        (_, "") => Err(Response::error(
            405,
            "use GET or POST on /admin/members, DELETE on /admin/members/{id}",
        )),
        _ => Err(Response::error(
            404,
            "no such path; the membership API is /admin/members and /admin/members/{id}",
        )),
    }
}

fn parse_add(body: &[u8]) -> Result<Admin, Response> {
    const SHAPE: &str =
        "body must be {\"id\": N, \"addr\": \"HOST:PORT\"} with an optional \"client_addr\"";
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Response::error(400, &format!("malformed JSON body: {e}")))?;
    let obj = v.as_object().ok_or_else(|| Response::error(400, SHAPE))?;
    if let Some(other) = obj
        .keys()
        .find(|k| !["id", "addr", "client_addr"].contains(&k.as_str()))
    {
        return Err(Response::error(
            400,
            &format!("unknown field {other:?}; {SHAPE}"),
        ));
    }
    let id = obj.get("id").and_then(Value::as_u64);
    let addr = obj.get("addr").and_then(Value::as_str);
    let client = match obj.get("client_addr") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(Response::error(400, SHAPE)),
    };
    match (id, addr) {
        (Some(id), Some(addr)) if !addr.is_empty() => Ok(Admin::Add {
            id,
            address: Address {
                peer: addr.to_string(),
                client,
            },
        }),
        _ => Err(Response::error(400, SHAPE)),
    }
}

/// This node's view of the configuration, as `GET /admin/members` answers it.
pub fn view(node: &Node) -> Value {
    let m: &Members = node.members();
    json!({
        "id": node.id(),
        "voters": m.voters,
        "learners": m.learners,
        "index": node.members_index(),
        "committed": node.members_index() <= node.commit_index(),
        "leader": node.leader(),
        "term": node.term(),
    })
}

/// Carries out `admin` on `node`: the answer, with `clients` (members' client addresses) for a
/// redirect to the leader.
pub fn answer(admin: Admin, node: &mut Node, clients: &BTreeMap<NodeId, String>) -> Response {
    let proposed = match admin {
        Admin::List => return Response::json(200, view(node)),
        Admin::Add { id, address } => node.propose_change_at(Change::AddLearner(id), Some(address)),
        Admin::Remove(id) => node.propose_change(Change::Remove(id)),
    };
    match proposed {
        Ok(index) => {
            let mut v = view(node);
            v["accepted_index"] = json!(index);
            Response::json(202, v)
        }
        Err(ChangeRefused::NotLeader(leader)) => not_leader(leader, clients),
        Err(refused) => Response::json(
            409,
            json!({"error": refused.to_string(), "members": view(node)}),
        ),
    }
}

fn not_leader(leader: Option<NodeId>, clients: &BTreeMap<NodeId, String>) -> Response {
    match leader.map(|l| (l, clients.get(&l))) {
        Some((l, Some(addr))) => {
            let mut r = Response::json(
                307,
                json!({"error": "not leader", "leader": l, "leader_addr": addr}),
            );
            r.location = Some(format!("http://{addr}/admin/members"));
            r
        }
        Some((l, None)) => Response::json(
            503,
            json!({"error": format!("not leader: n{l} is, and its client address is unknown here"), "leader": l}),
        ),
        None => Response::json(503, json!({"error": "unavailable, retry: no leader known"})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, body: &str) -> Request {
        Request {
            method: method.into(),
            path: "/admin/members".into(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn parses_the_three_requests() {
        assert_eq!(parse(&req("GET", ""), ""), Ok(Admin::List));
        assert_eq!(parse(&req("DELETE", ""), "/3"), Ok(Admin::Remove(3)));
        assert_eq!(
            parse(
                &req(
                    "POST",
                    r#"{"id": 4, "addr": "127.0.0.1:7104", "client_addr": "127.0.0.1:7004"}"#
                ),
                ""
            ),
            Ok(Admin::Add {
                id: 4,
                address: Address {
                    peer: "127.0.0.1:7104".into(),
                    client: Some("127.0.0.1:7004".into())
                }
            })
        );
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let err = |r: Result<Admin, Response>| {
            let r = r.unwrap_err();
            (r.status, String::from_utf8(r.body).unwrap())
        };
        let (s, b) = err(parse(&req("POST", "{\"id\": 4}"), ""));
        assert_eq!(s, 400);
        assert!(b.contains("\\\"addr\\\""), "{b}");
        let (s, b) = err(parse(
            &req("POST", "{\"id\": 4, \"addr\": \"a:1\", \"x\": 1}"),
            "",
        ));
        assert_eq!(s, 400);
        assert!(b.contains("unknown field \\\"x\\\""), "{b}");
        let (s, b) = err(parse(&req("POST", "{"), ""));
        assert_eq!(s, 400);
        assert!(b.contains("malformed JSON"), "{b}");
        let (s, b) = err(parse(&req("DELETE", ""), "/four"));
        assert_eq!(s, 400);
        assert!(b.contains("\\\"four\\\" is not a node id"), "{b}");
        assert_eq!(err(parse(&req("PUT", ""), "")).0, 405);
        assert_eq!(err(parse(&req("GET", ""), "/x/y")).0, 404);
    }
}
