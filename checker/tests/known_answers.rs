//! Every known-answer history in `../shared/data/porcupine` gets the verdict in EXPECTED.tsv:
//! etcd logs as cas-register histories, kv files as kv-append histories.

use checker::import::{self, Format};
use checker::{check, ModelKind, Options, Verdict};
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    let dir = std::env::var_os("FAULTLINE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/porcupine")
        });
    assert!(
        dir.join("EXPECTED.tsv").is_file(),
        "known-answer data not found at {}: check out shared/ beside the repository or set FAULTLINE_TESTDATA",
        dir.display()
    );
    dir
}

#[test]
fn every_known_answer_file_gets_its_expected_verdict() {
    let dir = data_dir();
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (file, want) = line.split_once('\t').expect("file<TAB>verdict");
        let want = match want.trim() {
            "linearizable" => Verdict::Linearizable,
            "not-linearizable" => Verdict::NotLinearizable,
            other => panic!("unknown verdict {other:?} in EXPECTED.tsv"),
        };
        let model = if file.starts_with("kv/") {
            ModelKind::KvAppend
        } else {
            ModelKind::CasRegister
        };
        let history =
            import::read_file(&dir.join(file), Format::Auto).unwrap_or_else(|e| panic!("{e}"));
        let report = check(&history, model, &Options::default()).unwrap();
        if report.verdict != want {
            wrong.push(format!(
                "{file}: expected {want:?}, got {:?}",
                report.verdict
            ));
        }
        if want == Verdict::NotLinearizable {
            let failure = report.failures().next().expect("a failing key");
            let cx = failure.counterexample.as_ref().expect("a counterexample");
            assert!(!cx.explanation.is_empty());
        }
        checked += 1;
    }
    assert!(checked >= 56, "only {checked} files listed");
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

#[test]
fn all_failures_reports_every_failing_key() {
    let dir = data_dir();
    let history = import::read_file(&dir.join("kv/c10-bad.txt"), Format::Auto).unwrap();
    let opts = Options {
        all_failures: true,
        ..Options::default()
    };
    let report = check(&history, ModelKind::KvAppend, &opts).unwrap();
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    assert!(
        report.keys.iter().all(|k| k.verdict != Verdict::Unknown),
        "with all_failures every key is decided"
    );
    let early = check(&history, ModelKind::KvAppend, &Options::default()).unwrap();
    assert_eq!(early.verdict, Verdict::NotLinearizable);
}

/// Every register history in reach — the known-answer files and the Jepsen- and Knossos-shaped
/// files under the repository's `tests/data` — gets the same verdict from the exact check for
/// unique values as from the search, wherever the exact check applies.
#[test]
fn the_exact_check_agrees_with_the_search_on_every_file_it_applies_to() {
    let ours = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
    let mut files = Vec::new();
    for dir in [data_dir().join("etcd"), ours.join("knossos")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    files.push(ours.join("jepsen-2016.log"));
    for run in std::fs::read_dir(ours.join("jepsen-store/etcd-register")).unwrap() {
        files.push(run.unwrap().path().join("history.edn"));
    }
    let mut compared = 0;
    for f in &files {
        let h = import::read_file(f, Format::Auto).unwrap_or_else(|e| panic!("{e}"));
        for initial in [None, Some(serde_json::json!(0))] {
            let h = match &initial {
                Some(v) => checker::conventions::with_initial(&h, v),
                None => h.clone(),
            };
            let exact = check(&h, ModelKind::CasRegister, &Options::default()).unwrap();
            let search = Options {
                search_only: true,
                ..Options::default()
            };
            let searched = check(&h, ModelKind::CasRegister, &search).unwrap();
            for (a, b) in exact.keys.iter().zip(&searched.keys) {
                if a.decided_by == checker::result::DecidedBy::UniqueValues {
                    compared += 1;
                    assert_eq!(a.verdict, b.verdict, "{} key {:?}", f.display(), a.key);
                }
            }
        }
    }
    println!("{compared} keys decided exactly and compared with the search");
    assert!(compared >= 6, "only {compared} keys had unique values");
}
