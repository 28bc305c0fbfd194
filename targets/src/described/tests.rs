use super::*;
use serde_json::json;

fn reply(status: u16, body: Value, location: Option<&str>) -> Reply {
    Reply {
        status,
        text: if body.is_null() {
            String::new()
        } else {
            body.to_string()
        },
        body,
        location: location.map(str::to_string),
    }
}

fn example(name: &str) -> Described {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/targets")
        .join(name);
    Described::load(&path).unwrap()
}

#[test]
fn members_requests_read_names_and_bad_pointers_are_refused() {
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/targets/raftkv.toml"),
    )
    .unwrap();
    let with = |list: &str| {
        format!(
            "{base}\n[members.list]\npath = \"/members\"\n{list}\n\
             [members.add]\nmethod = \"PUT\"\npath = \"/members/{{member}}\"\n\
             [members.remove]\nmethod = \"DELETE\"\npath = \"/members/{{member}}\"\n"
        )
    };
    let d = Described::parse(&with("pointer = \"/m\"\nname_pointer = \"/name\"")).unwrap();
    let list = &d.members.as_ref().unwrap().list;
    assert_eq!(list.method, "GET");
    assert_eq!(
        list.names(&json!({"m": [{"name": "n1"}, {"name": "n2"}]}))
            .unwrap(),
        ["n1", "n2"]
    );
    assert!(list
        .names(&json!({"m": [{"id": 1}]}))
        .unwrap_err()
        .contains("without a name"));
    assert!(list
        .names(&json!({}))
        .unwrap_err()
        .contains("no array at /m"));
    let bad = Described::parse(&with("pointer = \"m\"")).unwrap_err();
    assert!(bad.contains("members.list.pointer"), "{bad}");
}

#[test]
fn the_raftkv_example_speaks_raftkvs_api() {
    let d = example("raftkv.toml");
    assert_eq!(d.nodes.len(), 3);
    let v = json!(7);
    let p = d.prepare(Op::Write {
        key: "k1",
        value: &v,
    });
    assert_eq!((p.method.as_str(), p.path.as_str()), ("PUT", "/kv/k1"));
    assert_eq!(p.body.as_deref(), Some("{\"value\": 7}"));
    let read = Op::Read { key: "k1" };
    assert_eq!(
        d.interpret(
            read,
            false,
            &reply(200, json!({"value": 7, "version": 12}), None)
        ),
        Answer::Ok {
            value: json!(7),
            version: Some(12)
        }
    );
    assert_eq!(
        d.interpret(
            read,
            false,
            &reply(404, json!({"error": "no such key"}), None)
        ),
        Answer::Ok {
            value: Value::Null,
            version: None
        }
    );
    assert_eq!(
        d.interpret(
            read,
            false,
            &reply(307, Value::Null, Some("http://127.0.0.1:26002/kv/k1"))
        ),
        Answer::Elsewhere("http://127.0.0.1:26002/kv/k1".into())
    );
    let (a, b) = (json!(1), json!(2));
    let cas = Op::Cas {
        key: "k1",
        from: &a,
        to: &b,
    };
    assert_eq!(
        d.interpret(cas, false, &reply(409, json!({}), None)),
        Answer::Mismatch
    );
    assert!(matches!(
        d.interpret(
            cas,
            false,
            &reply(503, json!({"error": "x", "indeterminate": true}), None)
        ),
        Answer::Unknown(_)
    ));
    assert!(matches!(
        d.interpret(cas, false, &reply(503, json!({"error": "no leader"}), None)),
        Answer::Refused(_)
    ));
    assert!(matches!(
        d.interpret(cas, false, &reply(502, Value::Null, None)),
        Answer::Unknown(_)
    ));
}

#[test]
fn the_etcd_example_speaks_the_json_gateway() {
    let d = example("etcd.toml");
    assert_eq!(d.encoding, Encoding::Base64);
    let (a, b) = (json!(1), json!(2));
    let p = d.prepare(Op::Cas {
        key: "k1",
        from: &a,
        to: &b,
    });
    assert_eq!(p.path, "/v3/kv/txn");
    let body: Value = serde_json::from_str(p.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["compare"][0]["key"], "azE=");
    assert_eq!(body["compare"][0]["value"], "MQ==");
    assert_eq!(body["success"][0]["request_put"]["value"], "Mg==");
    let cas = Op::Cas {
        key: "k1",
        from: &a,
        to: &b,
    };
    assert_eq!(
        d.interpret(
            cas,
            false,
            &reply(
                200,
                json!({"header": {"revision": "9"}, "succeeded": true}),
                None
            )
        ),
        Answer::Ok {
            value: Value::Null,
            version: Some(9)
        }
    );
    assert_eq!(
        d.interpret(
            cas,
            false,
            &reply(200, json!({"header": {"revision": "9"}}), None)
        ),
        Answer::Mismatch,
        "a failed txn has no succeeded field"
    );
    let read = Op::Read { key: "k1" };
    assert_eq!(
        d.interpret(read, false, &reply(200, json!({"header": {}, "kvs": [{"key": "azE=", "value": "MTI=", "mod_revision": "5"}]}), None)),
        Answer::Ok { value: json!(12), version: Some(5) }
    );
    assert_eq!(
        d.interpret(
            read,
            false,
            &reply(200, json!({"header": {"revision": "3"}}), None)
        ),
        Answer::Ok {
            value: Value::Null,
            version: None
        },
        "an absent key has no kvs"
    );
    assert!(matches!(
        d.interpret(cas, false, &reply(503, Value::Null, None)),
        Answer::Unknown(_)
    ));
}

#[test]
fn errors_name_the_field() {
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/targets/raftkv.toml"),
    )
    .unwrap();
    let cases = [
        (
            good.replace("method = \"PUT\"", "method = \"FETCH\""),
            "write.method: \"FETCH\"",
        ),
        (
            good.replace("path = \"/kv/{key}/cas\"", "path = \"/kv/{key}/cas/{old}\""),
            "cas.path: unknown placeholder {old}",
        ),
        (
            good.replace("value = \"/value\"", "value = \"value\""),
            "read.value: \"value\" is not a JSON pointer",
        ),
        (
            good.replace("url = \"http://{ip}:26001\"", "url = \"127.0.0.1:26001\""),
            "nodes[0].url",
        ),
        (
            good.replace("ok = [200]", "ok = [\"2xy\"]"),
            "status \"2xy\"",
        ),
        (
            good.replace("name = \"n2\"", "name = \"n1\""),
            "nodes[1].name: \"n1\" is used twice",
        ),
        (
            good.replace("[cas]", "[cas]\ncolour = 1"),
            "unknown field `colour`",
        ),
        (
            good.replace("--data-dir {data_dir}", "--data-dir {datadir}"),
            "nodes[0].start: unknown placeholder {datadir}; a node's url and commands know {name}, {index}, {ip}, {data_dir}, {faultline}, {file_dir}, and {ip:n1}, {ip:n2}, {ip:n3}",
        ),
        (
            good.replace("2={ip:n2}:26102", "2={ip:n9}:26102"),
            "nodes[0].start: unknown placeholder {ip:n9}",
        ),
    ];
    for (text, expected) in cases {
        let e = Described::parse(&text).unwrap_err();
        assert!(e.contains(expected), "expected {expected:?} in:\n{e}");
    }
    let e = Described::parse("name = \"x\"\n").unwrap_err();
    assert!(e.contains("missing field `nodes`"), "{e}");
}

#[test]
fn node_placeholders_are_checked_and_filled() {
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/targets/raftkv.toml"),
    )
    .unwrap();
    // `{index}` in a URL, the shell's own `${VAR}`, an awk program and `{file_dir}` pass.
    let text = good
        .replace("url = \"http://{ip}:26001\"", "url = \"http://{ip}:2600{index}\"")
        .replace(
            "--request-timeout-ms 1000\"",
            "--request-timeout-ms 1000 ${EXTRA_FLAGS} 2>{file_dir}/n.err\"\npid = \"ps -o pid= | awk '{ print $1 }' | head -1\"",
        );
    let d = Described::parse(&text).unwrap();
    assert_eq!(
        node_placeholders("exec x ${HOME} {ip}:{index} {ip:n2} { print $1 } {\"a\": 1}"),
        ["ip", "index", "ip:n2"]
    );
    let path = std::env::temp_dir().join(format!("faultline-fd-{}.toml", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    let loaded = Described::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(loaded.file_dir.is_absolute());
    assert_eq!(
        loaded.fill_file_dir("{file_dir}/n.err"),
        format!("{}/n.err", loaded.file_dir.display())
    );
    assert_eq!(d.nodes[0].url, "http://{ip}:2600{index}");
    // The example's ports are below the ephemeral range; one moved into it is named.
    assert_eq!(d.ports_in_ephemeral_range(), []);
    let (low, _) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .map(|r| {
            let v: Vec<u16> = r.split_whitespace().map(|x| x.parse().unwrap()).collect();
            (v[0], v[1])
        })
        .unwrap();
    let moved = good.replace(
        "url = \"http://{ip}:26002\"",
        &format!("url = \"http://{{ip}}:{}\"", low + 1),
    );
    let named = Described::parse(&moved).unwrap().ports_in_ephemeral_range();
    assert_eq!(named.len(), 1);
    assert_eq!((named[0].0.as_str(), named[0].1), ("n2", low + 1));
}

#[test]
fn redirect_locations_are_absolute_or_relative() {
    let from = "http://10.0.0.1:7000/kv/k1";
    assert_eq!(
        redirect_target(from, "http://10.0.0.2:7000/kv/k1/cas").as_deref(),
        Some("http://10.0.0.2:7000/kv/k1/cas")
    );
    assert_eq!(
        redirect_target(from, "/kv/k2").as_deref(),
        Some("http://10.0.0.1:7000/kv/k2")
    );
    assert_eq!(
        redirect_target(from, "http://leader.local:7000/kv/k1").as_deref(),
        Some("http://leader.local:7000/kv/k1")
    );
    assert_eq!(redirect_target(from, "ftp://x/"), None);
    let d = example("raftkv.toml");
    assert_eq!(
        d.interpret(
            Op::Read { key: "k" },
            false,
            &reply(307, Value::Null, Some("/kv/k"))
        ),
        Answer::Elsewhere("/kv/k".into())
    );
    assert_eq!(
        d.interpret(
            Op::Read { key: "k" },
            true,
            &reply(307, Value::Null, Some("/kv/k"))
        ),
        Answer::Elsewhere("/kv/k".into()),
        "a final read follows the redirect as the main phase does"
    );
    assert_eq!(
        d.interpret(
            Op::Read { key: "k" },
            false,
            &reply(503, json!({"error": "no leader known"}), None)
        ),
        Answer::Refused("503: no leader known".into()),
        "the answer's own message"
    );
}

#[test]
fn urls_may_name_hosts_ipv6_literals_and_https() {
    let u = BaseUrl::parse("http://localhost:8080/api/").unwrap();
    assert_eq!(
        (u.authority().as_str(), u.prefix.as_str()),
        ("localhost:8080", "/api")
    );
    assert_eq!(u.domain(), Some("localhost"));
    assert_eq!(u.url("/kv/a"), "http://localhost:8080/api/kv/a");
    assert!(u.resolve().unwrap().ip().is_loopback());
    let v6 = BaseUrl::parse("http://[::1]:2379").unwrap();
    assert_eq!((v6.authority().as_str(), v6.domain()), ("[::1]:2379", None));
    assert_eq!(v6.resolve().unwrap().to_string(), "[::1]:2379");
    let tls = BaseUrl::parse("https://etcd.example").unwrap();
    assert_eq!((tls.scheme.as_str(), tls.port), ("https", 443));
    assert!(BaseUrl::parse("ftp://x:1").unwrap_err().contains("http://"));
    assert!(BaseUrl::parse("http://x:1/?q=1")
        .unwrap_err()
        .contains("path only"));
    let e = BaseUrl::parse("http://no-such-host.invalid:1")
        .unwrap()
        .resolve()
        .unwrap_err();
    assert!(e.contains("cannot resolve no-such-host.invalid"), "{e}");
}

/// A service that answers every request with 200, errors in words, and values as text.
const TEXTY: &str = r#"
name = "texty"
value_type = "string"
[[nodes]]
name = "a"
url = "http://127.0.0.1:9000"
[read]
method = "GET"
path = "/get/{key}"
value = "/value"
ok = [200]
absent = [404]
[[read.classify]]
body_matches = "^Error"
means = "fail"
[write]
method = "POST"
path = "/set"
headers = { "X-Key" = "{key}" }
content_type = "application/x-www-form-urlencoded"
body = "key={key}&value={value}"
ok = [200]
[[write.classify]]
body_matches = "(?i)database is locked"
means = "fail"
[[write.classify]]
status = ["2xx"]
pointer = "/outcome"
equals = "unsure"
means = "unknown"
"#;

#[test]
fn answers_are_classified_by_body_before_status_and_values_read_by_type() {
    let d = Described::parse(TEXTY).unwrap();
    assert!(d.cas.is_none(), "[cas] is optional");
    let v = json!(5);
    let p = d.prepare(Op::Write {
        key: "k",
        value: &v,
    });
    assert_eq!(p.body.as_deref(), Some("key=k&value=5"));
    assert_eq!(p.headers, vec![("X-Key".to_string(), "k".to_string())]);
    assert_eq!(
        p.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let write = Op::Write {
        key: "k",
        value: &v,
    };
    let locked = Reply {
        status: 200,
        body: json!("Error: database is locked"),
        text: "Error: database is locked".into(),
        location: None,
    };
    assert_eq!(
        d.interpret(write, false, &locked),
        Answer::Refused("200: Error: database is locked".into())
    );
    assert!(matches!(
        d.interpret(
            write,
            false,
            &reply(200, json!({"outcome": "unsure"}), None)
        ),
        Answer::Unknown(_)
    ));
    assert_eq!(
        d.interpret(write, false, &reply(200, json!({"outcome": "done"}), None)),
        Answer::Ok {
            value: Value::Null,
            version: None
        }
    );
    let read = Op::Read { key: "k" };
    assert_eq!(
        d.interpret(read, false, &reply(200, json!({"value": "5"}), None)),
        Answer::Ok {
            value: json!(5),
            version: None
        }
    );
    assert_eq!(
        d.interpret(read, false, &reply(200, json!({"value": "five"}), None)),
        Answer::Unknown(
            "200: unreadable read.value: expected text holding a number, found \"five\"".into()
        ),
        "text that is not a number is never made a value"
    );
    assert!(matches!(
        d.interpret(read, false, &reply(200, json!({"value": 5}), None)),
        Answer::Unknown(_)
    ));
    let number =
        Described::parse(&TEXTY.replace("value_type = \"string\"", "value_type = \"number\""))
            .unwrap();
    assert_eq!(
        number.interpret(read, false, &reply(200, json!({"value": 5}), None)),
        Answer::Ok {
            value: json!(5),
            version: None
        }
    );
    assert!(matches!(
        number.interpret(read, false, &reply(200, json!({"value": "5"}), None)),
        Answer::Unknown(_)
    ));
}

#[test]
fn the_text_values_example_reads_text_and_sees_errors_sent_with_200() {
    let d = example("text-values.toml");
    assert!(d.cas.is_none());
    let base = BaseUrl::parse(&d.nodes[0].url).unwrap();
    assert_eq!(base.domain(), Some("localhost"));
    let v = json!(5);
    let write = Op::Write {
        key: "k",
        value: &v,
    };
    let p = d.prepare(write);
    assert_eq!(p.body.as_deref(), Some("value=5"));
    let text = |status: u16, text: &str| Reply {
        status,
        body: serde_json::from_str(text).unwrap_or(Value::String(text.into())),
        text: text.into(),
        location: None,
    };
    assert!(matches!(
        d.interpret(write, false, &text(200, "Error: database is locked")),
        Answer::Refused(_)
    ));
    assert!(matches!(
        d.interpret(write, false, &text(200, r#"{"outcome": "unknown"}"#)),
        Answer::Unknown(_)
    ));
    let read = Op::Read { key: "k" };
    assert_eq!(
        d.interpret(read, false, &text(200, r#"{"value": "5"}"#)),
        Answer::Ok {
            value: json!(5),
            version: None
        }
    );
    assert!(matches!(
        d.interpret(read, false, &text(200, "Error: no quorum")),
        Answer::Refused(_)
    ));
}

#[test]
fn bad_rules_name_their_field() {
    for (bad, expected) in [
        ("body_matches = \"^Error\"", "body_matches = \"(\""),
        (
            "means = \"fail\"",
            "means = \"fail\"\npointer = \"/x\"\nequals = 1",
        ),
        ("body_matches = \"^Error\"", "pointer = \"x\"\nequals = 1"),
        ("means = \"fail\"", "means = \"perhaps\""),
        (
            "headers = { \"X-Key\" = \"{key}\" }",
            "headers = { \"X-Key\" = \"{value}{to}\" }",
        ),
    ]
    .map(|(a, b)| (TEXTY.replacen(a, b, 1), a))
    {
        let e = Described::parse(&bad).unwrap_err();
        assert!(
            e.contains("read.classify[0]")
                || e.contains("write.headers.X-Key")
                || e.contains("means"),
            "{expected}: {e}"
        );
    }
}

#[test]
fn placeholders_are_words_in_braces() {
    assert_eq!(
        placeholders("{\"key\": \"{key}\", \"v\": {value}}"),
        vec!["key", "value"]
    );
    assert_eq!(
        BaseUrl::parse("http://10.0.0.1:2379/api").unwrap().prefix,
        "/api"
    );
}

#[test]
fn an_sql_target_needs_no_requests_and_takes_none() {
    let file = r#"
name = "CockroachDB"
[sql]
isolation = "serializable"
user = "root"
database = "defaultdb"
[[nodes]]
name = "n1"
url = "postgres://{ip}:26257"
start = "exec cockroach start-single-node --insecure --store={data_dir}"
"#;
    let d = Described::parse(file).unwrap();
    let sql = d.sql.as_ref().unwrap();
    assert_eq!(
        (sql.user.as_str(), sql.database.as_str()),
        ("root", "defaultdb")
    );
    assert_eq!(sql.isolation, crate::sql::Isolation::Serializable);
    assert!(d.read.is_none() && d.launches());
    let with_read = format!(
        "{file}\n[read]\nmethod = \"GET\"\npath = \"/{{key}}\"\nvalue = \"/v\"\nok = [200]\n"
    );
    let e = Described::parse(&with_read).unwrap_err();
    assert!(
        e.starts_with("read: an [sql] target is a database driven in its own protocol"),
        "{e}"
    );
    let http_node = file.replace("postgres://{ip}:26257", "http://{ip}:26257");
    let e = Described::parse(&http_node).unwrap_err();
    assert!(
        e.contains("nodes[0].url: an [sql] target's nodes are postgres://"),
        "{e}"
    );
    let e = Described::parse("name = \"x\"\n[[nodes]]\nname = \"n1\"\nurl = \"http://h:1\"\n")
        .unwrap_err();
    assert!(e.starts_with("read: missing"), "{e}");
    let e = Described::parse(&file.replace("serializable", "snapshot")).unwrap_err();
    assert!(e.contains("unknown variant `snapshot`"), "{e}");
}

#[test]
fn an_amqp_target_is_a_broker_with_amqp_urls_and_no_requests() {
    let file = r#"
name = "a RabbitMQ someone runs"
[amqp]
queue = "quorum"
user = "app"
password = "secret"
[[nodes]]
name = "n1"
url = "amqp://{ip}"
"#;
    let d = Described::parse(file).unwrap();
    let amqp = d.amqp.as_ref().unwrap();
    assert_eq!(
        (amqp.queue, amqp.user.as_str()),
        (crate::amqp::QueueKind::Quorum, "app")
    );
    let base = BaseUrl::parse("amqp://10.0.0.1").unwrap();
    assert_eq!((base.scheme.as_str(), base.port), ("amqp", 5672));
    let e = Described::parse(&file.replace("amqp://{ip}", "http://{ip}:80")).unwrap_err();
    assert!(
        e.contains("nodes[0].url: an [amqp] target's nodes are amqp://"),
        "{e}"
    );
    let e = Described::parse(&format!("{file}\n[sql]\n")).unwrap_err();
    assert!(
        e.starts_with("[sql] and [amqp]: a target speaks one protocol"),
        "{e}"
    );
}
