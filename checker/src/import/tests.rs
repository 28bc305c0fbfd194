use super::*;
use crate::history::Outcome;
use serde_json::{json, Value};

fn parse(text: &str) -> History {
    parse_str("probe", text, Format::Auto).unwrap_or_else(|e| panic!("{e}"))
}

fn error_of(text: &str, format: Format) -> HistoryError {
    parse_str("bad.hist", text, format).unwrap_err()
}

#[test]
fn detects_formats() {
    assert_eq!(detect("{\"index\":0}"), Some(Format::Jsonl));
    assert_eq!(detect("\n{:process 1}"), Some(Format::JepsenEdn));
    assert_eq!(detect("[{:process 1}]"), Some(Format::JepsenEdn));
    assert_eq!(
        detect(";; Knossos\n({:process 1})"),
        Some(Format::JepsenEdn)
    );
    assert_eq!(
        detect("#jepsen.history.Op{:index 0}"),
        Some(Format::JepsenEdn)
    );
    assert_eq!(detect("3\t:invoke\t:read\tnil"), Some(Format::JepsenText));
    assert_eq!(
        detect(":nemesis\t:info\t:start\tnil"),
        Some(Format::JepsenText)
    );
    assert_eq!(
        detect("INFO  jepsen.util - 2\t:invoke\t:cas\t[1 2]"),
        Some(Format::JepsenLog)
    );
    assert_eq!(
        detect("INFO [2017-08-14 13:48:32,548] main - jepsen.cli Test options:"),
        Some(Format::JepsenLog)
    );
    assert_eq!(
        detect("2021-02-26 23:39:01,300{GMT}\tINFO\t[main] jepsen.cli: Test options:"),
        Some(Format::JepsenLog)
    );
    assert_eq!(detect(""), Some(Format::Jsonl));
    assert_eq!(detect("hello"), None);
}

#[test]
fn reads_native_lines() {
    let text = r#"{"index":0,"time":1000,"process":3,"type":"invoke","f":"write","key":"k1","value":17}
{"index":1,"time":2500,"process":3,"type":"ok","f":"write","key":"k1","value":17,"node":"n1","version":4,"trace":"abc"}
{"index":2,"time":2700,"process":"nemesis","type":"info","f":"start-partition","value":{"grudge":{"n1":["n2","n3"]}}}
"#;
    let h = parse(text);
    assert_eq!(h.event_count(), 3);
    assert_eq!(h.ops.len(), 1);
    assert_eq!(h.ops[0].outcome, Outcome::Ok);
    assert_eq!(h.ops[0].version, Some(4));
    assert_eq!(h.ops[0].node.as_deref(), Some("n1"));
    assert_eq!(h.event(1).extra["trace"], "abc");
    assert_eq!(h.ops[0].extra["trace"], "abc");
    assert_eq!(h.nemesis_events().count(), 1);
}

#[test]
fn reads_jepsen_logs_with_tabs_or_spaces() {
    let text = "INFO  jepsen.util - 2\t:invoke\t:cas\t[1 2]\n\
                INFO  jepsen.core - Something else entirely\n\
                INFO  jepsen.util - 2   :info  :cas   :timed-out\n\
                INFO  jepsen.util - 1 :invoke :read nil\n\
                INFO  jepsen.util - 1 :ok :read 3\n";
    let h = parse(text);
    assert_eq!(
        h.format,
        Format::JepsenLog,
        "auto resolves to the detected format"
    );
    assert_eq!(h.ops.len(), 2);
    assert_eq!(h.ops[0].input, json!([1, 2]));
    assert_eq!(h.ops[0].outcome, Outcome::Info);
    assert_eq!(h.ops[1].output, json!(3));
}

#[test]
fn reads_every_jepsen_log_layout() {
    let layouts = [
        // 2014
        "INFO  jepsen.core - Worker 0 starting\n\
         INFO  jepsen.util - 0\t:invoke\t:write\t3\n\
         INFO  jepsen.util - 0\t:fail\t:write\t3\t:conn-refused\n",
        // 2016–2018
        "INFO [2017-08-14 13:48:32,548] jepsen test runner - jepsen.core Running test\n\
         INFO [2017-08-14 13:48:32,600] jepsen worker 0 - jepsen.util 0\t:invoke\t:write\t3\n\
         INFO [2017-08-14 13:48:32,610] jepsen worker 0 - jepsen.util 0\t:fail\t:write\t3\t:conn-refused\n",
        // 2019 on, with a stack trace between lines
        "2021-02-26 23:39:01,290{GMT}\tINFO\t[jepsen test runner] jepsen.core: Relative time begins now\n\
         2021-02-26 23:39:01,300{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0\t:invoke\t:write\t3\n\
         java.net.ConnectException: Connection refused\n\
         \tat java.base/sun.nio.ch.Net.connect0(Native Method)\n\
         2021-02-26 23:39:01,303{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0\t:fail\t:write\t3\t:conn-refused\n",
    ];
    for text in layouts {
        let h = parse(text);
        assert_eq!(h.format, Format::JepsenLog, "{text}");
        assert_eq!(h.ops.len(), 1, "{text}");
        assert_eq!(h.ops[0].outcome, Outcome::Fail);
        assert_eq!(h.ops[0].error.as_deref(), Some("conn-refused"));
    }
}

#[test]
fn reads_the_relative_time_layout_of_2020s_jepsen_logs() {
    // Issue 26: `jepsen.util: [ NANOS ] PROCESS TYPE F VALUE` was read as nothing at all.
    let text = "2023-05-01 10:00:00,100{GMT}\tINFO\t[jepsen test runner] jepsen.core: Relative time begins now\n\
         2023-05-01 10:00:00,200{GMT}\tINFO\t[jepsen worker 0] jepsen.util: [ 183823060135 ] 0 :invoke :write 1\n\
         2023-05-01 10:00:00,210{GMT}\tINFO\t[jepsen worker 0] jepsen.util: [ 183833060135 ] 0 :ok :write 1\n\
         2023-05-01 10:00:00,220{GMT}\tINFO\t[jepsen worker 1] jepsen.util: [ 183843060135 ] 1 :invoke :read nil\n\
         2023-05-01 10:00:00,230{GMT}\tINFO\t[jepsen worker 1] jepsen.util: [ 183853060135 ] 1 :ok :read 1\n";
    let h = parse(text);
    assert_eq!(h.format, Format::JepsenLog);
    assert_eq!(h.ops.len(), 2);
    assert!(h.timed, "the relative times are real nanoseconds");
    assert_eq!(h.ops[0].invoke_time, 183_823_060_135);
    assert_eq!(h.ops[1].output, json!(1));
}

#[test]
fn a_log_whose_jepsen_util_lines_hold_no_operation_is_an_error() {
    let text =
        "2023-05-01 10:00:00,100{GMT}\tINFO\t[jepsen worker 0] jepsen.util: <<0 invoke write 1>>\n\
         2023-05-01 10:00:00,200{GMT}\tINFO\t[jepsen worker 0] jepsen.util: <<0 ok write 1>>\n";
    let e = error_of(text, Format::JepsenLog);
    assert!(
        e.message
            .contains("2 jepsen.util lines, but none is an operation"),
        "{e}"
    );
    assert_eq!(e.line, 1);
}

#[test]
fn a_log_cut_in_its_last_line_is_judged_without_it_and_says_so() {
    let whole = "INFO  jepsen.util - 0\t:invoke\t:write\t3\n\
         INFO  jepsen.util - 0\t:ok\t:write\t3\n\
         INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
         INFO  jepsen.util - 1\t:ok\t:read\t[3 4";
    let h = parse_str("cut.log", whole, Format::JepsenLog).unwrap();
    assert_eq!(h.ops.len(), 2, "the write, and the read left open");
    assert!(
        h.notes
            .iter()
            .any(|n| n.starts_with("the last line (4) is cut short and was skipped")),
        "{:?}",
        h.notes
    );
    // A bad line that is not the last is still an error.
    let bad = format!("{whole}\nINFO  jepsen.util - 2\t:invoke\t:read\tnil\n");
    let e = error_of(&bad, Format::JepsenLog);
    assert_eq!(e.line, 4);
    // No newline at the end: said, and read as it stands.
    let h = parse_str(
        "open.log",
        "INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:ok\t:write\t3",
        Format::JepsenLog,
    )
    .unwrap();
    assert_eq!(h.ops.len(), 1);
    assert!(
        h.notes
            .iter()
            .any(|n| n.contains("does not end with a newline")),
        "{:?}",
        h.notes
    );
}

#[test]
fn reads_history_txt() {
    let text = "0\t:invoke\t:read\tnil\n\
                :nemesis\t:info\t:start\tnil\n\
                0\t:ok\t:read\t3\n\
                1\t:invoke\t:cas\t[3 4]\n\
                :nemesis\t:info\t:start\t{\"n1\" [\"n2\" \"n3\"]}\n\
                1\t:info\t:cas\t[3 4]\t:timeout\n";
    let h = parse(text);
    assert_eq!(h.format, Format::JepsenText);
    assert_eq!(h.ops.len(), 2);
    assert_eq!(h.ops[0].output, json!(3));
    assert_eq!(h.ops[1].outcome, Outcome::Info);
    assert_eq!(h.ops[1].error.as_deref(), Some("timeout"));
    assert_eq!(h.nemesis_events().count(), 2);
    assert!(!h.timed);
}

#[test]
fn reads_knossos_files_wrapped_with_comments_over_many_lines() {
    let text = ";; A Knossos-style history: one vector, comments, maps over lines.\n\
                [{:process 0, :type :invoke, :f :write, :value 1}\n\
                 ; process 1 reads\n\
                 {:process 1,\n  :type :invoke,\n  :f :read,\n  :value nil}\n\
                 {:process 0, :type :ok, :f :write, :value 1}\n\
                 #_ {:process 9, :type :invoke, :f :read}\n\
                 {:process 1, :type :ok, :f :read, :value 1}]\n";
    let h = parse(text);
    assert_eq!(h.format, Format::JepsenEdn);
    assert_eq!(h.ops.len(), 2);
    assert_eq!(h.ops[1].invoke_line, 4, "the line where the map begins");
    assert_eq!(h.ops[1].output, json!(1));

    let list = "({:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value nil})";
    assert_eq!(parse(list).ops.len(), 1, "a list wraps as well as a vector");
}

#[test]
fn reads_tagged_jepsen_ops_and_their_fields() {
    let text = "#jepsen.history.Op{:index 0, :time 10, :type :invoke, :process 0, :f :write, :value 7}\n\
                #jepsen.history.Op{:index 1, :time 20, :type :ok, :process 0, :f :write, :value 7}\n";
    let h = parse(text);
    assert_eq!(h.ops.len(), 1);
    assert!(h.timed);
    assert_eq!(h.ops[0].complete_time, Some(20));
}

#[test]
fn times_that_go_back_are_kept_and_noted_once_in_jepsen_files() {
    let text = "{:process 0, :type :invoke, :f :write, :value 1, :time 50}\n\
                {:process :nemesis, :type :info, :f :start, :time 40}\n\
                {:process 0, :type :ok, :f :write, :value 1, :time 30}\n";
    let h = parse(text);
    assert_eq!(h.ops.len(), 1);
    assert_eq!(h.event(2).time, 30, "kept for display");
    assert_eq!(h.notes.len(), 1, "{:?}", h.notes);
    assert!(h.notes[0].contains("line 2"), "{:?}", h.notes);

    let jsonl = "{\"time\":5,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"time\":2,\"process\":1,\"type\":\"ok\",\"f\":\"read\"}";
    assert!(error_of(jsonl, Format::Jsonl)
        .message
        .contains("must not decrease"));
}

#[test]
fn independent_tuples_split_into_keys() {
    let text = "{:process 0, :type :invoke, :f :write, :value [0 5]}\n\
                {:process 1, :type :invoke, :f :read, :value [1 nil]}\n\
                {:process 0, :type :ok, :f :write, :value [0 5]}\n\
                {:process 1, :type :ok, :f :read, :value [1 nil]}\n\
                {:process 2, :type :invoke, :f :cas, :value [0 [5 6]]}\n\
                {:process 2, :type :info, :f :cas, :value nil}\n\
                {:process 3, :type :invoke, :f :cas, :value [\"x\" [1 2]]}\n\
                {:process 3, :type :fail, :f :cas, :value [\"x\" [1 2]]}\n";
    let h = parse(text);
    let keys: Vec<_> = h.ops.iter().map(|o| o.key.as_deref()).collect();
    assert_eq!(keys, [Some("0"), Some("1"), Some("0"), Some("x")]);
    assert_eq!(h.ops[0].input, json!(5));
    assert_eq!(h.ops[1].output, Value::Null);
    assert_eq!(h.ops[2].input, json!([5, 6]));
    assert!(
        h.notes.iter().any(|n| n.contains("3 keys")),
        "{:?}",
        h.notes
    );
}

#[test]
fn a_plain_cas_register_is_not_mistaken_for_tuples() {
    let text = "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n\
                INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n";
    let h = parse(text);
    assert_eq!(h.ops[0].key, None);
    assert_eq!(h.ops[0].input, json!([1, 2]));
}

#[test]
fn mixing_tuples_and_plain_values_is_an_error() {
    let text = "{:process 0, :type :invoke, :f :write, :value [0 5]}\n\
                {:process 0, :type :ok, :f :write, :value [0 5]}\n\
                {:process 1, :type :invoke, :f :write, :value 3}\n";
    let e = error_of(text, Format::Auto);
    assert_eq!(e.line, 3);
    assert!(e.message.contains("mixes [key value] tuples"), "{e}");

    let text = "{:process 0, :type :invoke, :f :read, :value [0 nil]}\n\
                {:process 0, :type :ok, :f :read, :value 4}\n";
    assert!(error_of(text, Format::Auto)
        .message
        .contains("must return a [key value] tuple"));

    let text = "{:process 0, :type :invoke, :f :read, :value [0 nil]}\n\
                {:process 0, :type :ok, :f :read, :value [1 4]}\n";
    assert!(error_of(text, Format::Auto)
        .message
        .contains("completion names key"));
}

#[test]
fn each_kind_of_bad_input_names_line_and_problem() {
    let e = error_of(
        "{\"time\":1,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"time\":2,\"process\":1,\"type\":\"done\",\"f\":\"read\"}",
        Format::Jsonl,
    );
    assert_eq!(
        (e.line, e.message.contains("unknown type \"done\"")),
        (2, true),
        "{e}"
    );
    assert_eq!(e.to_string().split(':').next(), Some("bad.hist"));

    let e = error_of(
        "{\"time\":1,\"process\":1,\"type\":\"ok\",\"f\":\"read\"}",
        Format::Jsonl,
    );
    assert!(e.message.contains("no invocation"), "{e}");

    let e = error_of("{\"time\":1,\"process\":1,\"type\":\"inv", Format::Jsonl);
    assert!(e.message.contains("truncated"), "{e}");

    let e = error_of(
        "{\"time\":1,\"process\":-4,\"type\":\"invoke\",\"f\":\"read\"}",
        Format::Jsonl,
    );
    assert!(e.message.contains("process must be"), "{e}");

    let e = error_of(
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}",
        Format::Jsonl,
    );
    assert!(e.message.contains("missing field \"time\""), "{e}");

    let e = error_of("INFO  jepsen.util - 2\t:invoke", Format::JepsenLog);
    assert!(e.message.contains("truncated"), "{e}");

    let e = error_of(
        "INFO  jepsen.util - 2\t:begin\t:read\tnil",
        Format::JepsenLog,
    );
    assert!(e.message.contains("unknown type"), "{e}");

    let e = error_of("3\t:invoke\t:read\t[1 2", Format::JepsenText);
    assert!(e.message.contains("bad value"), "{e}");

    let e = error_of("what is this", Format::Auto);
    assert!(e.message.contains("cannot tell the format"), "{e}");
}

#[test]
fn edn_errors_name_line_and_column() {
    let e = error_of(
        "{:process 1, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :get, :key \"0\", :value",
        Format::JepsenEdn,
    );
    assert_eq!((e.line, e.column), (2, Some(1)), "{e}");
    assert!(e.message.contains("truncated"), "{e}");
    assert!(e.to_string().starts_with("bad.hist:2:1: "), "{e}");

    let e = error_of(
        "[{:process 1, :type :invoke, :f :read}\n 17]",
        Format::JepsenEdn,
    );
    assert_eq!((e.line, e.column), (2, Some(2)), "{e}");
    assert!(e.message.contains("expected an EDN map"), "{e}");

    let e = error_of("{:process 1, :type :launch, :f :read}", Format::JepsenEdn);
    assert!(e.message.contains("unknown type"), "{e}");
}

#[test]
fn invalid_utf8_names_its_line() {
    let bytes = b"{\"time\":1,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\xff\n";
    let e = read("bin", &bytes[..], Format::Jsonl).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("UTF-8"), "{e}");
}

#[test]
fn transactional_histories_are_named_for_what_they_are() {
    use crate::model::ModelKind;
    // Issue 26: Knossos's multi-register was called "a transactional (txn) history", Elle's
    // micro-ops were taken for [key value] tuples, and a history with no :f said only
    // `missing field "f"`.
    let multi = "{:process 0, :type :invoke, :f :txn, :value [[:read 0 nil] [:write 1 2]]}\n\
                 {:process 0, :type :ok, :f :txn, :value [[:read 0 3] [:write 1 2]]}\n";
    let e = ModelKind::infer(&parse(multi)).unwrap_err();
    assert!(
        e.starts_with("this is a Knossos multi-register history"),
        "{e}"
    );
    let append = "{:process 0, :type :invoke, :f :txn, :value [[:append 1 2] [:r 1 nil]]}\n\
                  {:process 0, :type :ok, :f :txn, :value [[:append 1 2] [:r 1 [2]]]}\n";
    let e = ModelKind::infer(&parse(append)).unwrap_err();
    assert!(e.starts_with("this is an Elle list-append history"), "{e}");
    // Two micro-ops under :f :write are no [key value] tuple, and a single one no plain value.
    let rw = "{:process 0, :type :invoke, :f :write, :value [[:w 1 2] [:w 2 3]]}\n\
              {:process 0, :type :ok, :f :write, :value [[:w 1 2] [:w 2 3]]}\n\
              {:process 1, :type :invoke, :f :write, :value [[:w 3 4]]}\n\
              {:process 1, :type :ok, :f :write, :value [[:w 3 4]]}\n";
    let e = ModelKind::infer(&parse(rw)).unwrap_err();
    assert!(e.starts_with("this is an Elle rw-register history"), "{e}");
    // Elle's and TiDB's form without :f is a transaction (issue 28); anything else without
    // :f is still an error that names the fields there are.
    let tidb = "{:type :invoke, :value [[:append 1 2]], :process 0}\n";
    assert_eq!(&*parse(tidb).ops[0].f, "txn");
    let e = error_of("{:type :invoke, :value 3, :process 0}\n", Format::JepsenEdn);
    assert!(e.message.contains("missing field \"f\""), "{e}");
    assert!(
        e.message
            .contains("this event has only type, process, value"),
        "{e}"
    );
}
