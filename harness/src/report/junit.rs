//! JUnit XML for CI dashboards: one `<testsuite>` per checked history; in it one test case per
//! consistency model (passed, failed when violated, errored when unknown — an undecided model is
//! not a pass), and for every violated model one failed test case per key whose operations show
//! the violation, with the anomalies in words and their witnesses.

use super::esc;
use checker::consistency::{Ladder, Standing};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The `<testsuite>` element for one history's ladder.
pub fn suite(ladder: &Ladder) -> String {
    let mut cases = String::new();
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    let class = format!("faultline.{}", ladder.model);
    for level in &ladder.levels {
        tests += 1;
        let name = level.model.name();
        let _ = write!(
            cases,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"0\">",
            esc(&class),
            name
        );
        match level.standing {
            Standing::Holds => {}
            Standing::Violated => {
                failures += 1;
                let mut body = String::new();
                for &i in &level.anomalies {
                    let a = &ladder.anomalies[i];
                    let _ = writeln!(body, "{}: {}", a.kind.words(), a.sentence);
                }
                let _ = write!(
                    cases,
                    "\n    <failure type=\"violated\" message=\"{name} violated: {} violation{}{}\">{}</failure>\n  ",
                    level.violations,
                    if level.violations == 1 { "" } else { "s" },
                    level
                        .reason
                        .as_deref()
                        .map(|r| format!("; {}", esc(r)))
                        .unwrap_or_default(),
                    esc(&body)
                );
            }
            Standing::Unknown => {
                errors += 1;
                let _ = write!(
                    cases,
                    "\n    <error type=\"unknown\" message=\"{name} could not be decided: {}\"/>\n  ",
                    esc(level.reason.as_deref().unwrap_or("no reason given"))
                );
            }
        }
        cases.push_str("</testcase>\n");
        if level.standing != Standing::Violated {
            continue;
        }
        // The failing key groups of this model.
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in &level.anomalies {
            by_key
                .entry(ladder.anomalies[i].key.as_deref().unwrap_or("(all keys)"))
                .or_default()
                .push(i);
        }
        for (key, list) in by_key {
            tests += 1;
            failures += 1;
            let mut body = String::new();
            for i in &list {
                let a = &ladder.anomalies[*i];
                let _ = writeln!(body, "{}: {}", a.kind.words(), a.sentence);
                for op in &a.witness {
                    let _ = writeln!(body, "  {}", checker::render::op_line(op));
                }
            }
            let first = &ladder.anomalies[list[0]];
            let _ = writeln!(
                cases,
                "  <testcase classname=\"{}\" name=\"{name} key {}\" time=\"0\">\n    <failure type=\"{}\" message=\"{}\">{}</failure>\n  </testcase>",
                esc(&format!("{class}.keys")),
                esc(key),
                first.kind.words(),
                esc(&first.sentence),
                esc(&body)
            );
        }
    }
    format!(
        "<testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{:.3}\">\n{cases}</testsuite>\n",
        esc(&ladder.source),
        ladder.elapsed_ms.as_secs_f64()
    )
}

/// The `<testsuite>` of a transactional history: a test case per isolation level, failed with
/// the anomalies that break it.
pub fn isolation_suite(report: &checker::txn::Report) -> String {
    let mut cases = String::new();
    let mut failures = 0;
    for level in &report.levels {
        let _ = write!(
            cases,
            "  <testcase classname=\"faultline.isolation\" name=\"{}\" time=\"0\">",
            level.model
        );
        if level.standing == Standing::Violated {
            failures += 1;
            let mut body = String::new();
            for &i in &level.anomalies {
                let a = &report.anomalies[i];
                let _ = writeln!(body, "{}: {}", a.name(), a.sentence);
                for step in &a.steps {
                    let _ = writeln!(body, "  {step}");
                }
            }
            let _ = write!(
                cases,
                "\n    <failure type=\"violated\" message=\"{} violated\">{}</failure>\n  ",
                level.model,
                esc(&body)
            );
        }
        cases.push_str("</testcase>\n");
    }
    format!(
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"0\">\n{cases}</testsuite>\n",
        esc(&report.source),
        report.levels.len()
    )
}

/// A suite for a run's faults: one test case per fault kind asked for, errored when the kind
/// was never applied (a fault test that injected nothing is not a pass).
pub fn faults_suite(asked: &[String], unapplied: &[(String, String)]) -> String {
    let mut cases = String::new();
    for kind in asked {
        let _ = write!(
            cases,
            "  <testcase classname=\"faultline.faults\" name=\"{} applied\" time=\"0\">",
            esc(kind)
        );
        if let Some((_, why)) = unapplied.iter().find(|(k, _)| k == kind) {
            let _ = write!(
                cases,
                "\n    <error type=\"not-applied\" message=\"{} was asked for and never applied: {}\"/>\n  ",
                esc(kind),
                esc(why)
            );
        }
        cases.push_str("</testcase>\n");
    }
    format!(
        "<testsuite name=\"faults\" tests=\"{}\" failures=\"0\" errors=\"{}\" skipped=\"0\" time=\"0\">\n{cases}</testsuite>\n",
        asked.len(),
        unapplied.len()
    )
}

/// A whole JUnit document from suites made by [`suite`] (and failed-input suites).
pub fn document(suites: &[String]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultline\">\n",
    );
    for s in suites {
        out.push_str(s);
    }
    out.push_str("</testsuites>\n");
    out
}

/// A suite for a history that could not be checked at all: one errored case saying why.
pub fn bad_input_suite(source: &str, message: &str) -> String {
    format!(
        "<testsuite name=\"{0}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0\">\n  <testcase classname=\"faultline\" name=\"read history\" time=\"0\">\n    <error type=\"bad-input\" message=\"{1}\"/>\n  </testcase>\n</testsuite>\n",
        esc(source),
        esc(message)
    )
}

/// A suite for a history read but not judged (a workload with no checker yet): one skipped
/// case saying why.
pub fn unjudged_suite(source: &str, why: &str) -> String {
    format!(
        "<testsuite name=\"{0}\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"1\" time=\"0\">\n  <testcase classname=\"faultline\" name=\"workload\" time=\"0\">\n    <skipped message=\"{1}\"/>\n  </testcase>\n</testsuite>\n",
        esc(source),
        esc(why)
    )
}

/// A suite for a workload history (bank, set, lock, …): one case per promise broken (failed,
/// with its first sentence), or one case that passed, or one skipped with why it is unknown.
pub fn workload_suite(source: &str, j: &checker::workloads::Judgement) -> String {
    let mut cases = String::new();
    let mut kinds: Vec<&str> = j.violations.iter().map(|v| v.kind).collect();
    kinds.dedup();
    for kind in &kinds {
        let first = j
            .violations
            .iter()
            .find(|v| v.kind == *kind)
            .expect("listed");
        let _ = write!(
            cases,
            "  <testcase classname=\"faultline.{0}\" name=\"{1}\" time=\"0\">\n    <failure type=\"{1}\" message=\"{2}\"/>\n  </testcase>\n",
            j.workload,
            kind,
            esc(&first.sentence)
        );
    }
    let (tests, failures, skipped) = match j.standing {
        Standing::Violated => (kinds.len(), kinds.len(), 0),
        Standing::Holds => {
            let _ = writeln!(
                cases,
                "  <testcase classname=\"faultline.{0}\" name=\"{0}\" time=\"0\"/>",
                j.workload
            );
            (1, 0, 0)
        }
        Standing::Unknown => {
            let why = j.why.as_deref().unwrap_or("unknown");
            let _ = write!(
                cases,
                "  <testcase classname=\"faultline.{0}\" name=\"{0}\" time=\"0\">\n    <skipped message=\"{1}\"/>\n  </testcase>\n",
                j.workload,
                esc(why)
            );
            (1, 0, 1)
        }
    };
    format!(
        "<testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"0\">\n{cases}</testsuite>\n",
        esc(source)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::consistency::{assess, Level};
    use checker::import::{parse_str, Format};

    #[test]
    fn a_stale_read_fails_linearizable_and_its_key_and_nothing_else() {
        let h = parse_str(
            "stale.jsonl",
            &[
                r#"{"process":0,"type":"invoke","f":"write","key":"x","value":1,"time":1}"#,
                r#"{"process":0,"type":"ok","f":"write","key":"x","value":1,"time":2}"#,
                r#"{"process":0,"type":"invoke","f":"write","key":"x","value":2,"time":3}"#,
                r#"{"process":0,"type":"ok","f":"write","key":"x","value":2,"time":4}"#,
                r#"{"process":1,"type":"invoke","f":"read","key":"x","value":null,"time":5}"#,
                r#"{"process":1,"type":"ok","f":"read","key":"x","value":1,"time":6}"#,
                r#"{"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":7}"#,
                r#"{"process":0,"type":"ok","f":"read","key":"x","value":2,"time":8}"#,
            ]
            .join("\n"),
            Format::Jsonl,
        )
        .unwrap();
        let ladder = assess(
            &h,
            checker::ModelKind::Register,
            &[
                Level::Linearizable,
                Level::Sequential,
                Level::MonotonicReads,
            ],
            &Default::default(),
        )
        .unwrap();
        let xml = document(&[suite(&ladder)]);
        assert!(
            xml.contains("tests=\"4\" failures=\"2\" errors=\"0\""),
            "{xml}"
        );
        assert!(
            xml.contains("name=\"linearizable\" time=\"0\">\n    <failure"),
            "{xml}"
        );
        assert!(xml.contains("name=\"linearizable key x\""), "{xml}");
        assert!(xml.contains("stale read: process 1 read 1 from x"), "{xml}");
        assert!(
            xml.contains("name=\"sequential\" time=\"0\"></testcase>"),
            "{xml}"
        );
    }
}
