//! A run in figures: the main phase's counts, throughput and latency, and the stretches in
//! which nothing succeeded (on the cluster or through one node), with what the unanswered
//! operations ran into and the faults faultline had in force meanwhile.

use super::*;

/// Outcome counts, throughput and latency of the main phase's client operations, derived from
/// the history as recorded (so `results.json` agrees with any re-reading of it).
pub(super) fn figures(history: &checker::History, elapsed: Duration) -> results::MainPhase {
    let main: Vec<&checker::Operation> = history.ops.iter().filter(|o| o.phase.is_none()).collect();
    let count = |outcome| main.iter().filter(|o| o.outcome == outcome).count();
    let mut latencies: Vec<u64> = main
        .iter()
        .filter(|o| o.outcome == checker::Outcome::Ok)
        .filter_map(|o| Some(o.complete_time? - o.invoke_time))
        .collect();
    latencies.sort_unstable();
    let quantile = |q: f64| {
        let i = ((latencies.len().max(1) - 1) as f64 * q).round() as usize;
        latencies.get(i).map(|ns| *ns as f64 / 1e6)
    };
    results::MainPhase {
        ops: main.len(),
        ok: count(checker::Outcome::Ok),
        fail: count(checker::Outcome::Fail),
        info: count(checker::Outcome::Info),
        throughput: main.len() as f64 / elapsed.as_secs_f64(),
        latency_ms: results::Latency {
            p50: quantile(0.5),
            p99: quantile(0.99),
        },
    }
}

/// Stretches of the main phase longer than `longer_than` in which nothing succeeded — on the
/// whole cluster (`node` null), or on one node that served operations at other times and was
/// asked during the stretch but answered nothing (a follower that redirects every request to
/// the leader serves nothing, and is not out) — in seconds since the history began. A run whose
/// target stopped answering says so even when the verdict holds.
pub(super) fn outages(history: &checker::History, longer_than: Duration) -> Vec<results::Outage> {
    let Some((start, end)) = history.span() else {
        return Vec::new();
    };
    let main: Vec<&checker::Operation> = history.ops.iter().filter(|o| o.phase.is_none()).collect();
    let Some(main_end) = main
        .iter()
        .map(|o| o.complete_time.unwrap_or(o.invoke_time))
        .max()
    else {
        return Vec::new();
    };
    let end = main_end.min(end);
    // The node a client went through: the one it asked first (`via`, when that node redirected
    // it to another), else the one that answered. A follower that redirects is up.
    fn through(o: &checker::Operation) -> Option<&str> {
        o.extra
            .get("via")
            .and_then(|v| v.as_str())
            .or(o.node.as_deref())
    }
    let ok_times = |node: Option<&str>| -> Vec<u64> {
        let mut t: Vec<u64> = main
            .iter()
            .filter(|o| o.outcome == checker::Outcome::Ok)
            .filter(|o| node.is_none() || through(o) == node)
            .filter_map(|o| o.complete_time)
            .collect();
        t.sort_unstable();
        t
    };
    // Only nodes that answered at some time: one that never does (a follower that refuses
    // rather than redirects) is how the service works, not an outage.
    let mut nodes: Vec<&str> = main
        .iter()
        .filter(|o| o.outcome == checker::Outcome::Ok)
        .filter_map(|o| through(o))
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    // What the operations through `node` (any node: None) that got no answer between `from`
    // and `to` ran into, in words; None when there were none.
    let unanswered = |node: Option<&str>, from: u64, to: u64| {
        let failed: Vec<&&checker::Operation> = main
            .iter()
            .filter(|o| o.outcome != checker::Outcome::Ok)
            .filter(|o| node.is_none() || through(o) == node)
            .filter(|o| (from..=to).contains(&o.invoke_time))
            .collect();
        (!failed.is_empty()).then(|| causes(&failed))
    };
    let secs = |t: u64| ((t - start) as f64 / 1e9 * 10.0).round() / 10.0;
    let faults = history.faults();
    let mut found = Vec::new();
    for node in std::iter::once(None).chain(nodes.iter().map(|n| Some(*n))) {
        let times = ok_times(node);
        let mut edges = vec![start];
        edges.extend(&times);
        edges.push(end);
        for w in edges.windows(2) {
            let long = w[1].saturating_sub(w[0]) as u128 > longer_than.as_nanos();
            if !long {
                continue;
            }
            let why = unanswered(node, w[0], w[1]);
            if node.is_none() || why.is_some() {
                found.push(results::Outage {
                    node: node.map(str::to_string),
                    from_s: secs(w[0]),
                    to_s: secs(w[1]),
                    why,
                    during: faults_between(&faults, w[0], w[1]),
                });
            }
        }
    }
    found
}

/// The faults in force at some moment between `from` and `to`, in words; None when none was.
pub(super) fn faults_between(
    faults: &[checker::faults::Fault],
    from: u64,
    to: u64,
) -> Option<String> {
    let during: Vec<String> = faults
        .iter()
        .filter(|f| f.overlaps(from, to))
        .map(|f| f.label.clone())
        .collect();
    (!during.is_empty()).then(|| during.join("; "))
}

/// What unanswered operations ran into, most common first: `unreachable 41, timed out 3,
/// refused 2` (refused: a definite no, e.g. no leader known; timed out: sent and no complete
/// answer; unreachable: never connected).
pub(super) fn causes(failed: &[&&checker::Operation]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in failed {
        let e = o.error.as_deref().unwrap_or("");
        let cause = if e.starts_with("could not connect") {
            "unreachable"
        } else if e.starts_with("no complete reply") || e.contains("timed out") {
            "timed out"
        } else if o.outcome == checker::Outcome::Info {
            "unsure"
        } else {
            "refused"
        };
        *counts.entry(cause).or_default() += 1;
    }
    let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
    counts.sort_by_key(|(c, n)| (std::cmp::Reverse(*n), *c));
    counts
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod outage_tests {
    use super::*;

    fn op(p: u64, from_s: f64, to_s: f64, node: &str, ok: bool) -> String {
        let ns = |s: f64| (s * 1e9) as u64;
        let kind = if ok { "ok" } else { "info" };
        format!(
            "{{\"time\":{},\"process\":{p},\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}}\n\
             {{\"time\":{},\"process\":{p},\"type\":\"{kind}\",\"f\":\"read\",\"key\":\"k\",\"node\":\"{node}\"}}\n",
            ns(from_s),
            ns(to_s)
        )
    }

    #[test]
    fn stretches_without_an_ok_operation_are_found_for_the_cluster_and_each_node() {
        let mut text = String::new();
        let mut p = 0;
        // n1 answers throughout but for 6–16 s; n2 answers only until 3 s, then times out.
        for t in 0..20 {
            let t = t as f64;
            let n1_ok = !(6.0..16.0).contains(&t);
            text += &op(p, t, t + 0.1, "n1", n1_ok);
            p += 1;
            text += &op(p, t + 0.2, t + 0.3, "n2", t < 3.0);
            p += 1;
            // n3 only ever refuses (a follower): it served nothing, and is not "out".
            text += &op(p, t + 0.4, t + 0.5, "n3", false);
            p += 1;
        }
        let h =
            checker::import::parse_str("t.jsonl", &text, checker::import::Format::Jsonl).unwrap();
        let found = outages(&h, Duration::from_secs(2));
        let spans: Vec<(Option<&str>, f64, f64)> = found
            .iter()
            .map(|o| (o.node.as_deref(), o.from_s, o.to_s))
            .collect();
        assert_eq!(
            spans,
            [
                (None, 5.1, 16.1),
                (Some("n1"), 5.1, 16.1),
                (Some("n2"), 2.3, 19.5),
            ],
            "{found:?}"
        );
        assert_eq!(outages(&h, Duration::from_secs(20)), []);
    }

    #[test]
    fn a_follower_that_redirects_is_not_out_and_an_outage_says_why_and_during_what() {
        // Issue 26: n2 redirected every client to n1 from 2 s on, and was reported out.
        let ns = |s: f64| (s * 1e9) as u64;
        // One read by process `p` from `t` to `t + 0.03` s, with the completion's extra fields.
        let read = |p: u64, t: f64, kind: &str, fields: &str| {
            format!(
                "{{\"time\":{},\"process\":{p},\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}}\n\
                 {{\"time\":{},\"process\":{p},\"type\":\"{kind}\",\"f\":\"read\",\"key\":\"k\"{fields}}}\n",
                ns(t),
                ns(t + 0.03)
            )
        };
        let mut text = String::new();
        for i in 0..100u64 {
            let t = i as f64 * 0.1;
            text += &read(2 * i, t, "ok", ",\"node\":\"n1\"");
            let via = if t >= 2.0 {
                ",\"node\":\"n1\",\"via\":\"n2\""
            } else {
                ",\"node\":\"n2\""
            };
            text += &read(2 * i + 1, t + 0.05, "ok", via);
        }
        let h =
            checker::import::parse_str("t.jsonl", &text, checker::import::Format::Jsonl).unwrap();
        assert_eq!(outages(&h, Duration::from_secs(2)), []);
        // n2 unreachable from 2 s on, after a kill: the outage names both.
        let mut text = String::new();
        for i in 0..100u64 {
            let t = i as f64 * 0.1;
            if i == 19 {
                text += &format!(
                    "{{\"time\":{},\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-kill\",\"value\":\"kill n2 (SIGKILL pid 9, reaped)\"}}\n",
                    ns(t)
                );
            }
            text += &read(2 * i, t, "ok", ",\"node\":\"n1\"");
            let answer = if t < 2.0 {
                ("ok", ",\"node\":\"n2\"".to_string())
            } else {
                (
                    "fail",
                    ",\"node\":\"n2\",\"error\":\"could not connect to 127.0.0.1:9: connection refused\""
                        .to_string(),
                )
            };
            text += &read(2 * i + 1, t + 0.05, answer.0, &answer.1);
        }
        let h =
            checker::import::parse_str("t.jsonl", &text, checker::import::Format::Jsonl).unwrap();
        let found = outages(&h, Duration::from_secs(2));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].node.as_deref(), Some("n2"));
        assert_eq!(found[0].why.as_deref(), Some("unreachable 80"));
        assert_eq!(
            found[0].during.as_deref(),
            Some("kill n2 (SIGKILL pid 9, reaped)")
        );
    }
}
