use super::*;
use serde_json::json;

fn p(text: &str) -> Value {
    parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn err(text: &str) -> EdnError {
    parse(text).expect_err(text)
}

#[test]
fn reads_jepsen_maps() {
    assert_eq!(
        p(r#"{:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}"#),
        json!({"process": 9, "type": "invoke", "f": "append", "key": "0", "value": "x 9 0 y"})
    );
    assert_eq!(p(":timed-out"), json!("timed-out"));
    assert_eq!(p(":jepsen.history/op"), json!("jepsen.history/op"));
}

// The cases below follow the edn-format specification, element by element.
#[test]
fn nil_booleans_and_symbols() {
    assert_eq!(p("nil"), Value::Null);
    assert_eq!(p("true"), json!(true));
    assert_eq!(p("false"), json!(false));
    assert_eq!(p("foo/bar"), json!("foo/bar"));
    assert_eq!(p("<=>"), json!("<=>"));
    assert_eq!(p("-"), json!("-"));
    assert_eq!(p("+foo"), json!("+foo"));
    assert_eq!(p("nilly"), json!("nilly"), "a symbol that starts like nil");
}

#[test]
fn strings_and_escapes() {
    assert_eq!(p(r#""a\"b""#), json!("a\"b"));
    assert_eq!(p(r#""t\tr\rn\nb\\ \u00e9""#), json!("t\tr\rn\nb\\ é"));
    assert_eq!(p("\"multi\nline\""), json!("multi\nline"));
    assert!(err(r#""\q""#).message.contains("unknown escape"));
    assert!(err(r#""\u12""#).message.contains("four hex digits"));
}

#[test]
fn characters() {
    assert_eq!(p(r"\a"), json!("a"));
    assert_eq!(p(r"\newline"), json!("\n"));
    assert_eq!(p(r"\space"), json!(" "));
    assert_eq!(p(r"\tab"), json!("\t"));
    assert_eq!(p(r"\return"), json!("\r"));
    assert_eq!(p(r"\u0041"), json!("A"));
    assert_eq!(p(r"\é"), json!("é"));
    assert_eq!(p(r"[\a \b]"), json!(["a", "b"]));
    assert!(err(r"\nope").message.contains("unknown character"));
}

#[test]
fn numbers() {
    assert_eq!(p("0"), json!(0));
    assert_eq!(p("-17"), json!(-17));
    assert_eq!(p("+5"), json!(5));
    assert_eq!(p("5N"), json!(5));
    assert_eq!(p("18446744073709551615"), json!(18446744073709551615u64));
    assert_eq!(
        p("123456789012345678901234567890N"),
        json!("123456789012345678901234567890"),
        "a big integer keeps its exact digits"
    );
    assert_eq!(p("1.5"), json!(1.5));
    assert_eq!(p("-2.5e3"), json!(-2500.0));
    assert_eq!(p("1.25M"), json!(1.25));
    assert_eq!(p("1/3"), json!("1/3"));
    assert_eq!(p("-22/7"), json!("-22/7"));
    assert!(err("1x").message.contains("bad number"));
    assert!(err("1/x").message.contains("bad number"));
}

#[test]
fn collections() {
    assert_eq!(p("[1 2]"), json!([1, 2]));
    assert_eq!(p("(1, 2, 3)"), json!([1, 2, 3]));
    assert_eq!(p("[]"), json!([]));
    assert_eq!(p("#{3 1 2}"), json!([1, 2, 3]), "sets are sorted");
    assert_eq!(p("#{}"), json!([]));
    assert_eq!(p("{0 5, 1 [1 2]}"), json!({"0": 5, "1": [1, 2]}));
    assert_eq!(p("{\"a\" 1 :b 2}"), json!({"a": 1, "b": 2}));
    assert_eq!(
        p("#:jepsen{:a 1, :x/b 2}"),
        json!({"jepsen/a": 1, "x/b": 2})
    );
    assert!(err("{:a}").message.contains("without a value"));
    assert!(err("{:a 1 :a 2}").message.contains("twice"));
    assert!(err("[1 2)").message.contains("different bracket"));
    assert!(err("]").message.contains("nothing open"));
}

#[test]
fn comments_discards_and_tags() {
    assert_eq!(p("; a comment\n[1 ; inner\n 2]"), json!([1, 2]));
    assert_eq!(p("[1 #_ 2 3]"), json!([1, 3]));
    assert_eq!(p("[1 #_ #_ 2 3 4]"), json!([1, 4]), "discards nest");
    assert_eq!(p("#_ {:gone 1} :kept"), json!("kept"));
    assert_eq!(
        p(r#"#inst "1985-04-12T23:20:50.52Z""#),
        json!("1985-04-12T23:20:50.52Z")
    );
    assert_eq!(
        p(r#"#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6""#),
        json!("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
    );
    assert_eq!(
        p("#jepsen.history.Op{:index 0, :type :invoke}"),
        json!({"index": 0, "type": "invoke"})
    );
    assert_eq!(
        p("#myapp/Person {:first \"Fred\"}"),
        json!({"first": "Fred"})
    );
    assert!(err("#?(:clj 1)").message.contains("unknown dispatch"));
}

#[test]
fn errors_say_where() {
    let e = err("{:process 9,\n :type");
    assert_eq!(e.pos, Pos { line: 1, column: 1 }, "{e}");
    assert!(
        e.message.contains("without a value") || e.message.contains("truncated"),
        "{e}"
    );
    let e = err("[1\n 2\n \"open");
    assert_eq!(e.pos, Pos { line: 3, column: 2 }, "{e}");
    assert!(e.message.contains("not closed"), "{e}");
    let e = err("[1 2] 3");
    assert!(e.message.contains("more input"), "{e}");
    assert_eq!(e.pos.column, 7);
}

#[test]
fn streams_forms_and_wrappers() {
    let mut r = Reader::new(";; header\n[{:a 1}\n {:a 2}]\n".as_bytes());
    let close = r.open_wrapper().unwrap().unwrap();
    let (at, v) = r.next_in(close).unwrap().unwrap();
    assert_eq!((at.line, v), (2, json!({"a": 1})));
    let (at, _) = r.next_in(close).unwrap().unwrap();
    assert_eq!(at, Pos { line: 3, column: 2 });
    assert!(r.next_in(close).unwrap().is_none());

    let mut r = Reader::new("[{:a 1}".as_bytes());
    let close = r.open_wrapper().unwrap().unwrap();
    r.next_in(close).unwrap();
    assert!(r.next_in(close).unwrap_err().message.contains("truncated"));
}

#[test]
fn reads_across_buffer_boundaries() {
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!("{{:index {i}, :value \"é{i}\"}}\n"));
    }
    let mut r = Reader::new(text.as_bytes());
    let mut n = 0;
    while let Some((at, v)) = r.next_form().unwrap() {
        assert_eq!(at.line, n + 1);
        assert_eq!(v["value"], json!(format!("é{n}")));
        n += 1;
    }
    assert_eq!(n, 20_000);
}

#[test]
fn writes_what_it_reads() {
    let v = json!({"process": 3, "type": "ok", "value": [1, [2, null]], "s": "a\"b\n", "odd key": true});
    let mut out = String::new();
    write(&v, &mut out);
    assert_eq!(parse(&out).unwrap(), v, "{out}");
    assert!(out.contains(":process 3"), "{out}");
    assert!(out.contains("\"odd key\""), "{out}");
}
