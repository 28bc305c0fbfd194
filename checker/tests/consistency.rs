//! The consistency ladder on hand-made histories at every boundary between models, and the
//! anomalies it names.

use checker::consistency::{assess, AnomalyKind, Ladder, Level, Standing};
use checker::history::{Event, EventType, Process};
use checker::{History, ModelKind, Options};
use serde_json::{json, Value};

/// One operation of a hand-made history; times in milliseconds.
#[derive(Clone)]
struct Op {
    process: u64,
    f: &'static str,
    key: &'static str,
    input: Value,
    output: Value,
    start: u64,
    end: u64,
    outcome: EventType,
    version: Option<u64>,
    node: Option<&'static str>,
    phase: Option<&'static str>,
}

fn op(process: u64, f: &'static str, key: &'static str, input: Value, output: Value) -> Op {
    Op {
        process,
        f,
        key,
        input,
        output,
        start: 0,
        end: 0,
        outcome: EventType::Ok,
        version: None,
        node: None,
        phase: None,
    }
}

fn w(p: u64, key: &'static str, v: i64) -> Op {
    op(p, "write", key, json!(v), json!(v))
}
fn r(p: u64, key: &'static str, v: Value) -> Op {
    op(p, "read", key, Value::Null, v)
}

impl Op {
    fn at(mut self, start: u64, end: u64) -> Op {
        self.start = start;
        self.end = end;
        self
    }
    fn v(mut self, version: u64) -> Op {
        self.version = Some(version);
        self
    }
    fn on(mut self, node: &'static str) -> Op {
        self.node = Some(node);
        self
    }
    fn last(mut self) -> Op {
        self.phase = Some("final");
        self
    }
    fn failed(mut self) -> Op {
        self.outcome = EventType::Fail;
        self
    }
}

fn history(ops: &[Op]) -> History {
    let mut timed: Vec<(u64, usize, Event)> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        for (kind, t, value, order) in [
            (EventType::Invoke, o.start, o.input.clone(), 1),
            (o.outcome, o.end, o.output.clone(), 0),
        ] {
            timed.push((
                t * 2 + order,
                i,
                Event {
                    index: 0,
                    time: t * 1_000_000,
                    process: Process::Client(o.process),
                    kind,
                    f: o.f.into(),
                    key: Some(o.key.into()),
                    value,
                    node: o.node.map(Into::into),
                    version: if kind == EventType::Invoke {
                        None
                    } else {
                        o.version
                    },
                    phase: o.phase.map(Into::into),
                    error: None,
                    extra: Default::default(),
                    line: 0,
                },
            ));
        }
    }
    // Completions before invocations at the same instant.
    timed.sort_by_key(|(t, i, _)| (*t, *i));
    let events = timed
        .into_iter()
        .enumerate()
        .map(|(n, (_, _, mut e))| {
            e.index = n as u64;
            e.line = n + 1;
            e
        })
        .collect();
    History::from_events("hand-made", events).expect("well formed")
}

fn ladder(ops: &[Op]) -> Ladder {
    ladder_of(ops, &Level::ALL)
}

fn ladder_of(ops: &[Op], levels: &[Level]) -> Ladder {
    assess(
        &history(ops),
        ModelKind::CasRegister,
        levels,
        &Options {
            all_failures: true,
            ..Default::default()
        },
    )
    .unwrap()
}

fn standings(l: &Ladder) -> Vec<(Level, Standing)> {
    l.levels.iter().map(|r| (r.model, r.standing)).collect()
}

fn expect(l: &Ladder, want: &[(Level, Standing)]) {
    for &(level, standing) in want {
        assert_eq!(
            l.standing(level),
            standing,
            "{level}: {:?}\n{}",
            l.get(level).and_then(|r| r.reason.clone()),
            checker::render::ladder(l)
        );
    }
}

use Level::*;
use Standing::*;

#[test]
fn sequential_but_not_linearizable() {
    let l = ladder(&[w(1, "x", 1).at(0, 1), r(2, "x", Value::Null).at(2, 3)]);
    expect(
        &l,
        &[
            (Linearizable, Violated),
            (Sequential, Holds),
            (Pram, Holds),
            (MonotonicReads, Holds),
            (MonotonicWrites, Holds),
            (ReadYourWrites, Holds),
            (WritesFollowReads, Holds),
            (Eventual, Unknown),
        ],
    );
    assert_eq!(l.strongest, vec![Sequential]);
    let a = &l.anomalies[0];
    // Nothing after the read ever saw 1: the write is lost, not merely missed.
    assert_eq!(a.kind, AnomalyKind::LostWrite, "{}", a.sentence);
    assert!(
        a.sentence.starts_with(
            "1 was written to x and acknowledged at 0.001 s, but no later read saw it or anything written after it: process 2 read nothing (nil) from x at 0.002 s"
        ),
        "{}",
        a.sentence
    );
    assert_eq!(a.witness.len(), 2);
}

#[test]
fn a_stale_read_in_words() {
    let l = ladder(&[
        w(1, "k3", 17).at(0, 100),
        w(2, "k3", 18).at(1000, 2104),
        r(4, "k3", json!(17)).at(2310, 2320),
        r(5, "k3", json!(18)).at(2400, 2410),
    ]);
    let a = &l.anomalies[0];
    assert_eq!(a.kind, AnomalyKind::StaleRead);
    assert_eq!(
        a.sentence,
        "process 4 read 17 from k3 at 2.310 s, but 18 had been written to k3 and acknowledged at 2.104 s, and nothing wrote 17 afterwards"
    );
    let ids: Vec<usize> = a.witness.iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![0, 1, 2], "the later read is not needed");
    assert!(a.minimal);
    let text = checker::render::ladder(&l);
    assert!(
        text.contains("stale read on k3 (breaks linearizable)"),
        "{text}"
    );
    assert!(text.contains("p4    read → 17"), "{text}");
}

#[test]
fn data_lost_in_a_crash_is_a_lost_write_not_a_stale_read() {
    // Issue 25: the same shape as a stale read, but the node was killed between the
    // acknowledgement and the read: the write was lost, and the words say so.
    let ms = |t: u64| t * 1_000_000;
    let lines = [
        format!(
            r#"{{"time":{},"process":1,"type":"invoke","f":"write","key":"k3","value":17}}"#,
            ms(0)
        ),
        format!(
            r#"{{"time":{},"process":1,"type":"ok","f":"write","key":"k3","value":17}}"#,
            ms(100)
        ),
        format!(
            r#"{{"time":{},"process":2,"type":"invoke","f":"write","key":"k3","value":18}}"#,
            ms(1000)
        ),
        format!(
            r#"{{"time":{},"process":2,"type":"ok","f":"write","key":"k3","value":18}}"#,
            ms(2104)
        ),
        format!(
            r#"{{"time":{},"process":"nemesis","type":"invoke","f":"start-kill","value":"kill n1"}}"#,
            ms(2200)
        ),
        format!(
            r#"{{"time":{},"process":"nemesis","type":"info","f":"start-kill","value":"kill n1 (SIGKILL pid 7, reaped)"}}"#,
            ms(2210)
        ),
        format!(
            r#"{{"time":{},"process":4,"type":"invoke","f":"read","key":"k3","value":null}}"#,
            ms(2310)
        ),
        format!(
            r#"{{"time":{},"process":4,"type":"ok","f":"read","key":"k3","value":17}}"#,
            ms(2320)
        ),
        format!(
            r#"{{"time":{},"process":5,"type":"invoke","f":"write","key":"k3","value":19}}"#,
            ms(2400)
        ),
        format!(
            r#"{{"time":{},"process":5,"type":"ok","f":"write","key":"k3","value":19}}"#,
            ms(2410)
        ),
        format!(
            r#"{{"time":{},"process":6,"type":"invoke","f":"read","key":"k3","value":null}}"#,
            ms(2500)
        ),
        format!(
            r#"{{"time":{},"process":6,"type":"ok","f":"read","key":"k3","value":19}}"#,
            ms(2510)
        ),
    ];
    let h = checker::import::parse_str("crash", &lines.join("\n"), checker::import::Format::Jsonl)
        .unwrap();
    let l = assess(&h, ModelKind::CasRegister, &Level::ALL, &Options::default()).unwrap();
    let a = &l.anomalies[l.get(Linearizable).unwrap().anomalies[0]];
    assert_eq!(a.kind, AnomalyKind::LostWrite, "{}", a.sentence);
    assert_eq!(
        a.sentence,
        "18 was written to k3 and acknowledged at 2.104 s, then a crash (kill n1 (SIGKILL pid 7, reaped), at 2.210 s), and then process 4 read 17 from k3 at 2.310 s, and nothing wrote 17 afterwards: the acknowledged write was lost in the crash"
    );
}

#[test]
fn pram_but_not_sequential() {
    // Each process sets its own flag, then reads the other's as unset (Dekker). Each key alone
    // is sequentially consistent; the two together are not.
    let l = ladder(&[
        w(1, "x", 1).at(0, 1),
        w(2, "y", 1).at(0, 1),
        r(1, "y", Value::Null).at(2, 3),
        r(2, "x", Value::Null).at(2, 3),
    ]);
    expect(
        &l,
        &[
            (Linearizable, Violated),
            (Sequential, Violated),
            (Pram, Holds),
            (WritesFollowReads, Holds),
        ],
    );
    assert_eq!(l.strongest, vec![Pram, WritesFollowReads]);
    let seq = l.get(Sequential).unwrap();
    assert!(
        seq.reason
            .as_deref()
            .unwrap()
            .contains("not all of them together"),
        "{:?}",
        seq.reason
    );
    let a = &l.anomalies[seq.anomalies[0]];
    assert_eq!(a.kind, AnomalyKind::NotSequential);
    assert_eq!(a.witness.len(), 4, "all four are needed");
    assert!(a.sentence.contains("on x and y"), "{}", a.sentence);
}

#[test]
fn monotonic_reads_broken_read_your_writes_held() {
    let l = ladder(&[
        w(1, "x", 1).at(0, 1).v(1),
        w(1, "x", 2).at(2, 3).v(2),
        r(2, "x", json!(2)).at(4, 5).v(2),
        r(2, "x", json!(1)).at(6, 7).v(1),
    ]);
    expect(
        &l,
        &[
            (Sequential, Violated),
            (Pram, Violated),
            (MonotonicReads, Violated),
            (MonotonicWrites, Holds),
            (ReadYourWrites, Holds),
            (WritesFollowReads, Holds),
        ],
    );
    let mr = l.get(MonotonicReads).unwrap();
    let a = &l.anomalies[mr.anomalies[0]];
    assert_eq!(a.kind, AnomalyKind::NonMonotonicRead);
    assert_eq!(
        a.sentence,
        "process 2 read 2 (version 2) from x at 0.004 s, then read 1 (version 1) at 0.006 s: an older version than it had already seen"
    );
    // The two reads show it, but the shrinking rules drop a write only together with the reads
    // of its value, so both writes stay: four operations, and no fewer by those rules.
    assert_eq!(a.witness.len(), 4, "{:?}", a.witness);
    assert!(a.minimal);
}

#[test]
fn read_your_writes_broken_monotonic_reads_held() {
    let l = ladder(&[w(1, "x", 1).at(0, 1).v(1), r(1, "x", Value::Null).at(2, 3)]);
    expect(
        &l,
        &[
            (Sequential, Violated),
            (MonotonicReads, Holds),
            (MonotonicWrites, Holds),
            (ReadYourWrites, Violated),
            (WritesFollowReads, Holds),
            (Pram, Violated),
        ],
    );
    assert_eq!(
        l.strongest,
        vec![MonotonicReads, MonotonicWrites, WritesFollowReads]
    );
    let a = &l.anomalies[l.get(ReadYourWrites).unwrap().anomalies[0]];
    assert_eq!(a.kind, AnomalyKind::ReadYourWritesViolation);
    assert!(
        a.sentence.contains("it did not see its own write"),
        "{}",
        a.sentence
    );
    assert_eq!(a.witness.len(), 2);
}

#[test]
fn monotonic_writes_broken() {
    // The target applied process 1's second write before its first.
    let l = ladder(&[
        w(1, "x", 1).at(0, 1).v(2),
        w(1, "x", 2).at(2, 3).v(1),
        r(2, "x", json!(1)).at(4, 5).v(2),
    ]);
    expect(
        &l,
        &[
            (MonotonicWrites, Violated),
            (MonotonicReads, Holds),
            (ReadYourWrites, Holds),
            (WritesFollowReads, Holds),
        ],
    );
    let a = &l.anomalies[l.get(MonotonicWrites).unwrap().anomalies[0]];
    assert_eq!(a.kind, AnomalyKind::NonMonotonicWrite);
    assert!(a.sentence.contains("out of order"), "{}", a.sentence);
}

#[test]
fn writes_follow_reads_broken() {
    let l = ladder(&[
        w(2, "x", 5).at(0, 1).v(5),
        r(1, "x", json!(5)).at(2, 3).v(5),
        w(1, "x", 6).at(4, 5).v(4),
    ]);
    expect(
        &l,
        &[
            (WritesFollowReads, Violated),
            (MonotonicReads, Holds),
            (MonotonicWrites, Holds),
            (ReadYourWrites, Holds),
            (Pram, Holds),
        ],
    );
    let a = &l.anomalies[l.get(WritesFollowReads).unwrap().anomalies[0]];
    assert_eq!(a.kind, AnomalyKind::WritesFollowReadsViolation);
    assert!(
        a.sentence.contains("before the write it had read"),
        "{}",
        a.sentence
    );
}

#[test]
fn derived_order_decides_only_what_real_time_decides() {
    // Writes one after the other: going back is certain.
    let l = ladder(&[
        w(1, "x", 1).at(0, 1),
        w(2, "x", 2).at(2, 3),
        r(3, "x", json!(2)).at(4, 5),
        r(3, "x", json!(1)).at(6, 7),
    ]);
    expect(&l, &[(MonotonicReads, Violated)]);
    let a = &l.anomalies[l.get(MonotonicReads).unwrap().anomalies[0]];
    assert!(
        a.sentence
            .contains("in the order of the writes in real time"),
        "{}",
        a.sentence
    );
    assert_eq!(a.witness.len(), 4, "the writes are what order the values");
    assert_eq!(l.versions.derived, 1);

    // Overlapping writes: on its own, the order is not known, and the verdict says so...
    let overlapping = [
        w(1, "x", 1).at(0, 5),
        w(2, "x", 2).at(0, 5),
        r(3, "x", json!(1)).at(6, 7),
        r(3, "x", json!(2)).at(8, 9),
    ];
    let l = ladder_of(&overlapping, &[MonotonicReads]);
    expect(&l, &[(MonotonicReads, Unknown)]);
    let why = l.get(MonotonicReads).unwrap().reason.clone().unwrap();
    assert!(why.contains("overlapped in time"), "{why}");
    // ...but in the whole ladder, the order that makes it sequentially consistent decides it.
    let l = ladder(&overlapping);
    expect(&l, &[(Sequential, Holds), (MonotonicReads, Holds)]);
    let why = l.get(MonotonicReads).unwrap().reason.clone().unwrap();
    assert_eq!(why, "implied: sequential holds");

    // A value written twice cannot be placed either.
    let twice = [
        w(1, "x", 1).at(0, 1),
        w(2, "x", 1).at(2, 3),
        r(3, "x", json!(1)).at(4, 5),
        r(3, "x", json!(1)).at(6, 7),
    ];
    let l = ladder_of(&twice, &[MonotonicReads]);
    let why = l.get(MonotonicReads).unwrap().reason.clone().unwrap();
    assert!(why.contains("written 2 times"), "{why}");
}

#[test]
fn a_weaker_model_never_stands_worse_or_better_than_a_stronger_one() {
    let histories: [&[Op]; 3] = [
        // Linearizable with overlapping writes: every session guarantee holds by implication.
        &[
            w(1, "x", 1).at(0, 5),
            w(2, "x", 2).at(1, 6),
            r(3, "x", json!(1)).at(7, 8),
            r(3, "x", json!(2)).at(9, 10),
        ],
        // A non-monotonic read: every model above it is violated too.
        &[
            w(1, "x", 1).at(0, 1),
            w(2, "x", 2).at(2, 3),
            r(3, "x", json!(2)).at(4, 5),
            r(3, "x", json!(1)).at(6, 7),
        ],
        // A stale read by another process: linearizability only.
        &[
            w(1, "x", 1).at(0, 1),
            w(2, "x", 2).at(2, 3),
            r(3, "x", json!(1)).at(4, 5),
        ],
    ];
    for ops in histories {
        let l = ladder(ops);
        for strong in Level::ALL {
            for weak in Level::ALL.into_iter().filter(|&w| strong.stronger_than(w)) {
                let (s, w) = (l.standing(strong), l.standing(weak));
                let rank = |x: Standing| match x {
                    Holds => 0,
                    Unknown => 1,
                    Violated => 2,
                };
                assert!(
                    rank(w) <= rank(s) && !(s == Holds && w != Holds),
                    "{strong} {s:?} but {weak} {w:?}\n{}",
                    checker::render::ladder(&l)
                );
            }
        }
    }
}

#[test]
fn divergent_final_reads() {
    let base = [w(1, "x", 1).at(0, 1).v(1), w(1, "x", 2).at(2, 3).v(2)];
    let mut ops = base.to_vec();
    ops.extend([
        r(10, "x", json!(2)).at(10, 11).v(2).on("n1").last(),
        r(11, "x", json!(1)).at(10, 11).v(1).on("n2").last(),
        r(12, "x", json!(2)).at(10, 11).v(2).on("n3").last(),
    ]);
    let l = ladder(&ops);
    expect(&l, &[(Eventual, Violated)]);
    let a = &l.anomalies[l.get(Eventual).unwrap().anomalies[0]];
    assert_eq!(a.kind, AnomalyKind::DivergenceAfterHeal);
    assert_eq!(
        a.sentence,
        "after the faults were healed and the cluster had recovered, x read 2 on n1 and n3 but 1 on n2"
    );
    assert_eq!(a.witness.len(), 2);

    // Agreement on every node.
    let mut ops = base.to_vec();
    for (p, n) in [(10, "n1"), (11, "n2"), (12, "n3")] {
        ops.push(r(p, "x", json!(2)).at(10, 11).v(2).on(n).last());
    }
    let l = ladder(&ops);
    expect(&l, &[(Eventual, Holds), (Linearizable, Holds)]);
    assert_eq!(l.strongest, vec![Linearizable, Eventual]);

    // A node that did not answer leaves the question open.
    ops.truncate(base.len());
    ops.push(r(10, "x", json!(2)).at(10, 11).v(2).on("n1").last());
    ops.push(r(11, "x", json!(2)).at(10, 11).v(2).on("n2").last());
    ops.push(r(11, "y", json!(null)).at(12, 13).on("n3").last());
    let l = ladder(&ops);
    expect(&l, &[(Eventual, Unknown)]);

    // Issue 25: no final read succeeded — agreement among no observations is not agreement.
    ops.truncate(base.len());
    for (p, n) in [(10, "n1"), (11, "n2"), (12, "n3")] {
        ops.push(r(p, "x", json!(null)).at(10, 11).on(n).last().failed());
    }
    let l = ladder(&ops);
    expect(&l, &[(Eventual, Unknown)]);
    let reason = l.get(Eventual).unwrap().reason.clone().unwrap();
    assert_eq!(
        reason,
        "none of the 3 final reads succeeded, so nothing shows the nodes agree"
    );

    // One node answered none of its final reads.
    ops.truncate(base.len());
    ops.push(r(10, "x", json!(2)).at(10, 11).v(2).on("n1").last());
    ops.push(r(11, "x", json!(2)).at(10, 11).v(2).on("n2").last());
    ops.push(r(12, "x", json!(null)).at(10, 11).on("n3").last().failed());
    let l = ladder(&ops);
    expect(&l, &[(Eventual, Unknown)]);
    assert!(
        l.get(Eventual)
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .starts_with("n3 answered none"),
        "{:?}",
        l.get(Eventual).unwrap().reason
    );
}

#[test]
fn a_value_from_thin_air_breaks_every_model() {
    let l = ladder(&[w(1, "x", 1).at(0, 1), r(2, "x", json!(7)).at(2, 3)]);
    for level in Level::ALL {
        assert_eq!(l.standing(level), Violated, "{level}");
    }
    assert_eq!(l.anomalies.len(), 1, "told once: {:?}", l.anomalies);
    let a = &l.anomalies[0];
    assert_eq!(a.kind, AnomalyKind::PhantomRead);
    assert_eq!(
        a.sentence,
        "process 2 read 7 from x at 0.002 s, but nothing ever wrote 7 to x"
    );
    assert_eq!(a.breaks, Level::ALL.to_vec());

    let l = ladder(&[w(1, "x", 7).at(0, 1).failed(), r(2, "x", json!(7)).at(2, 3)]);
    let a = &l.anomalies[0];
    assert_eq!(a.kind, AnomalyKind::ReadOfFailedWrite);
    assert!(
        a.sentence.contains("failed, so it never happened"),
        "{}",
        a.sentence
    );
    assert_eq!(a.witness.len(), 2);
}

#[test]
fn only_the_models_asked_for() {
    let h = history(&[w(1, "x", 1).at(0, 1), r(2, "x", Value::Null).at(2, 3)]);
    let l = assess(&h, ModelKind::CasRegister, &[Pram], &Options::default()).unwrap();
    assert_eq!(standings(&l), vec![(Pram, Holds)]);
    assert!(l.linearizability.is_none());
    assert_eq!(
        "all".parse::<checker::consistency::LevelSet>().unwrap().0,
        Level::ALL
    );
    let e = "sequential,bogus"
        .parse::<checker::consistency::LevelSet>()
        .unwrap_err();
    assert!(e.contains("unknown consistency model \"bogus\""), "{e}");
}

#[test]
fn a_history_that_tested_nothing_never_holds() {
    // Every write refused: reads of nothing "hold" every model, vacuously.
    let refused = [
        w(1, "x", 1).at(0, 1).failed(),
        w(2, "x", 2).at(2, 3).failed(),
        r(3, "x", json!(null)).at(4, 5),
    ];
    let l = ladder(&refused);
    for r in &l.levels {
        assert_eq!(r.standing, Unknown, "{}", checker::render::ladder(&l));
    }
    let why = l.get(Linearizable).unwrap().reason.clone().unwrap();
    assert!(
        why.starts_with("no successful write: none of the 2 writes"),
        "{why}"
    );

    // No read ever answered.
    let unread = [
        w(1, "x", 1).at(0, 1),
        r(2, "x", json!(null)).at(2, 3).failed(),
    ];
    let why = ladder(&unread)
        .get(Linearizable)
        .unwrap()
        .reason
        .clone()
        .unwrap();
    assert!(why.starts_with("no successful read"), "{why}");

    // A violation is still a violation, whatever else failed.
    let stale = [
        w(1, "x", 1).at(0, 1),
        w(2, "x", 2).at(2, 3),
        r(3, "x", json!(1)).at(4, 5),
    ];
    expect(&ladder(&stale), &[(Linearizable, Violated)]);

    // --min-ok asks for more than there is.
    let few = assess(
        &history(
            &stale[..2]
                .iter()
                .cloned()
                .chain([r(3, "x", json!(2)).at(4, 5)])
                .collect::<Vec<_>>(),
        ),
        ModelKind::CasRegister,
        &Level::ALL,
        &Options {
            min_ok: Some(10),
            ..Default::default()
        },
    )
    .unwrap();
    let why = few.get(Linearizable).unwrap().reason.clone().unwrap();
    assert_eq!(
        why,
        "only 3 of 3 operations succeeded, fewer than --min-ok 10"
    );
}

#[test]
fn a_successful_cas_is_an_observation() {
    // Issue 28, point 6: writes and a cas that found what it expected, and no read: the cas
    // observed the state, so the history tested something.
    let ops = [
        w(1, "x", 1).at(0, 1),
        op(2, "cas", "x", json!([1, 2]), json!([1, 2])).at(2, 3),
    ];
    let l = ladder_of(&ops, &[Linearizable]);
    expect(&l, &[(Linearizable, Holds)]);
    // A cas that expected a value nobody wrote, and succeeded, is a violation.
    let ops = [
        w(1, "x", 1).at(0, 1),
        op(2, "cas", "x", json!([5, 2]), json!([5, 2])).at(2, 3),
    ];
    let l = ladder_of(&ops, &[Linearizable]);
    expect(&l, &[(Linearizable, Violated)]);
}
