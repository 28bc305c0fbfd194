use super::*;
use checker::import::{parse_str, Format};

fn history(lines: &[&str]) -> History {
    parse_str("t.jsonl", &lines.join("\n"), Format::Jsonl).unwrap()
}

#[test]
fn a_node_removed_from_the_configuration_is_out_until_it_is_a_voter_again() {
    let h = history(&[
        r#"{"process":0,"type":"invoke","f":"read","key":"k","value":null,"time":5}"#,
        r#"{"process":0,"type":"ok","f":"read","key":"k","value":null,"node":"n1","time":6}"#,
        r#"{"process":"nemesis","type":"info","f":"start-membership","value":"remove n3","nodes":["n3"],"time":20}"#,
        r#"{"process":"nemesis","type":"info","f":"stop","value":"add back n3","nodes":["n3"],"time":40}"#,
    ]);
    let d = data(&h);
    let lane = &d["node_events"][0];
    assert_eq!(d["nodes"][lane["node"].as_u64().unwrap() as usize], "n3");
    assert_eq!(lane["state"], "out of the configuration");
    assert_eq!(lane["ended_by"], "add back n3");
}

#[test]
fn nothing_from_the_history_can_break_out_of_the_page() {
    let h = history(&[
        r#"{"process":0,"type":"invoke","f":"write","key":"</script><script>alert(1)</script>","value":"<b>&","time":1}"#,
        r#"{"process":0,"type":"ok","f":"write","key":"</script><script>alert(1)</script>","value":"<b>&","time":2}"#,
    ]);
    let ladder = checker::consistency::assess(
        &h,
        checker::ModelKind::Register,
        &Level::ALL,
        &Default::default(),
    )
    .unwrap();
    let page = html(
        &h,
        &ladder,
        &Context {
            title: "<i>t</i>".into(),
            require: Level::Linearizable,
            facts: vec![("a<".into(), "\"b\"".into())],
            notes: vec![],
        },
    );
    assert!(!page.contains("<script><script>"));
    assert_eq!(
        page.matches("<script").count(),
        2,
        "only the data and the code"
    );
    assert_eq!(page.matches("</script>").count(), 2);
    assert!(page.contains("&lt;i&gt;t&lt;/i&gt;"));
    assert!(page.contains("<th>a&lt;</th><td>&quot;b&quot;</td>"));
}

#[test]
fn targets_are_named_with_their_modes() {
    let config = |v: Value| -> RunConfig { serde_json::from_value(v).unwrap() };
    let raftkv = config(
        json!({"target": {"kind": "raftkv", "description": "3 raftkv nodes", "file": null},
               "seed": 1, "args": {"nodes": 3, "read_mode": "stale", "write_ack": "quorum"}}),
    );
    assert_eq!(
        target_words(Some(&raftkv)),
        "raftkv, 3 nodes (read mode stale, write ack quorum)"
    );
    let etcd = config(
        json!({"target": {"kind": "etcd", "description": "etcd 3.4.23, 3 members (serializable reads)", "file": null},
               "seed": 1, "args": {"nodes": 3, "read_mode": "consistent"}}),
    );
    assert_eq!(
        target_words(Some(&etcd)),
        "etcd 3.4.23, 3 members (serializable reads)"
    );
    assert_eq!(target_words(None), "");
}

#[test]
fn run_names_read_as_dates() {
    assert_eq!(started("20261122T160152Z"), "2026-11-22 16:01:52 UTC");
    assert_eq!(started("20261122T160152Z-2"), "2026-11-22 16:01:52 UTC");
    assert_eq!(started("latest"), "");
}

#[test]
fn a_bank_page_names_each_violation_with_its_operations_and_plots_the_totals() {
    let text = "{:index 0, :time 1000000, :process 0, :type :invoke, :f :transfer, :value {:from 0, :to 1, :amount 2}}\n\
                {:index 1, :time 2000000, :process 0, :type :ok, :f :transfer, :value {:from 0, :to 1, :amount 2}}\n\
                {:index 2, :time 3000000, :process 1, :type :invoke, :f :read, :value nil}\n\
                {:index 3, :time 4000000, :process 1, :type :ok, :f :read, :value {0 3, 1 5}}\n";
    let history =
        checker::import::parse_str("bank.edn", text, checker::import::Format::JepsenEdn).unwrap();
    let options = checker::workloads::Options {
        bank_total: Some(10),
        ..Default::default()
    };
    let j = checker::workloads::Workload::Bank
        .check(&history, &options)
        .unwrap();
    let page = super::workload::html(&history, &j, "bank run", &[], &[]);
    assert!(page.contains("bank: <b>violated</b>"), "the verdict");
    assert!(page.contains(
        "<h3>wrong-total</h3><p>p1 read at 0.004 s: balances sum to 8, not 10 ({0: 3, 1: 5})</p>"
    ));
    assert!(
        page.contains("<td>p1</td><td>read {&quot;0&quot;:3,&quot;1&quot;:5}</td>"),
        "its operation"
    );
    assert!(
        page.contains("Totals read, by node") && page.contains("<circle"),
        "the plot"
    );
    assert!(
        page.contains("<canvas id=\"timeline\""),
        "the shared timeline"
    );
}

#[test]
fn a_lock_page_draws_each_holder_over_time() {
    let text = "{:index 0, :time 1000000, :process 0, :type :invoke, :f :acquire, :value nil}\n\
                {:index 1, :time 2000000, :process 0, :type :ok, :f :acquire, :value nil}\n\
                {:index 2, :time 3000000, :process 1, :type :invoke, :f :acquire, :value nil}\n\
                {:index 3, :time 4000000, :process 1, :type :ok, :f :acquire, :value nil}\n\
                {:index 4, :time 5000000, :process 0, :type :invoke, :f :release, :value nil}\n\
                {:index 5, :time 6000000, :process 0, :type :ok, :f :release, :value nil}\n";
    let history =
        checker::import::parse_str("mutex.edn", text, checker::import::Format::JepsenEdn).unwrap();
    let j = checker::workloads::Workload::Lock
        .check(&history, &Default::default())
        .unwrap();
    let page = super::workload::html(&history, &j, "lock", &[], &[]);
    assert!(page.contains("<h3>double-holder</h3>"), "the violation");
    assert!(page.contains("Holders over time"), "the holders' section");
    assert_eq!(
        page.matches("<rect ").count(),
        2,
        "p0's hold and p1's, never released"
    );
    assert!(page.contains("<title>p0: 0.002 s – 0.005 s</title>"));
}
