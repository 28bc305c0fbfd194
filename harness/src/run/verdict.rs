//! The end of a run: its history judged (the consistency ladder for registers, the isolation
//! ladder for transactions), the data kept or dropped as asked, `results.json` and the JUnit
//! file written, and the summary printed.

use super::*;

/// What a run's history was judged by: the consistency ladder (registers), or the isolation
/// ladder (transactions) with the level required.
pub(crate) enum Judged {
    Consistency(checker::consistency::Ladder),
    Isolation {
        report: checker::txn::Report,
        require: checker::txn::Isolation,
    },
    /// A seed workload's checker (bank, set, counter, unique ids).
    Workload(checker::workloads::Judgement),
}

impl Judged {
    /// The strongest consistency models that hold (none for transactions: see
    /// [`Judged::isolation_json`]).
    pub(super) fn strongest(&self) -> Vec<checker::consistency::Level> {
        match self {
            Judged::Consistency(ladder) => ladder.strongest.clone(),
            Judged::Isolation { .. } | Judged::Workload(_) => Vec::new(),
        }
    }

    /// `results.json`'s `isolation`: the level required, its verdict, the strongest levels that
    /// hold and the whole report.
    pub(super) fn isolation_json(&self) -> Option<Value> {
        match self {
            Judged::Consistency(_) | Judged::Workload(_) => None,
            Judged::Isolation { report, require } => Some(json!({
                "require": require,
                "verdict": report.standing(*require),
                "strongest": report.strongest,
                "report": report,
            })),
        }
    }

    /// `results.json`'s `ladder`: the consistency ladder (null for transactions).
    pub(super) fn ladder_json(&self) -> Value {
        match self {
            Judged::Consistency(ladder) => {
                serde_json::to_value(ladder).expect("the ladder serializes")
            }
            Judged::Isolation { .. } | Judged::Workload(_) => Value::Null,
        }
    }

    /// `results.json`'s `workload`: a seed workload's judgement (none otherwise).
    pub(super) fn workload_json(&self) -> Option<Value> {
        match self {
            Judged::Workload(j) => Some(serde_json::to_value(j).expect("a judgement serializes")),
            _ => None,
        }
    }

    /// The standing of the model the run requires.
    pub(crate) fn standing(
        &self,
        require: checker::consistency::Level,
    ) -> checker::consistency::Standing {
        match self {
            Judged::Consistency(ladder) => ladder.standing(require),
            Judged::Isolation { report, require } => report.standing(*require),
            Judged::Workload(j) => j.standing,
        }
    }

    /// The required model's name.
    pub(crate) fn required(&self, require: checker::consistency::Level) -> String {
        match self {
            Judged::Consistency(_) => require.to_string(),
            Judged::Isolation { require, .. } => require.to_string(),
            Judged::Workload(j) => j.workload.to_string(),
        }
    }

    /// The ladder as people read it.
    pub(crate) fn render(&self) -> String {
        match self {
            Judged::Consistency(ladder) => checker::render::ladder(ladder),
            Judged::Isolation { report, .. } => {
                checker::txn::render(report, checker::render::ANOMALIES_SHOWN)
            }
            Judged::Workload(j) => {
                let mut out = format!("{} {}", j.workload, j.standing.words());
                if let Some(why) = &j.why {
                    out += &format!(": {why}");
                }
                out.push('\n');
                for line in j.lines() {
                    out += &format!("  {line}\n");
                }
                out
            }
        }
    }

    /// The JUnit suite of the verdicts.
    pub(super) fn junit(&self) -> String {
        match self {
            Judged::Consistency(ladder) => crate::report::junit::suite(ladder),
            Judged::Isolation { report, .. } => crate::report::junit::isolation_suite(report),
            Judged::Workload(j) => crate::report::junit::workload_suite("history.jsonl", j),
        }
    }
}

/// Check: the history as stored, read back and put through the whole ladder — the consistency
/// ladder, or for a transactional workload the isolation ladder.
pub(super) fn check(
    run_dir: &std::path::Path,
    args: &RunArgs,
    workload_options: Option<&checker::workloads::Options>,
) -> Result<(checker::History, Judged), String> {
    let path = run_dir.join("history.jsonl");
    let history = checker::import::read_file(&path, checker::import::Format::Jsonl)
        .map_err(|e| format!("the recorded history does not read back: {e}"))?;
    if let Some(w) = args.workload.seed() {
        let options = workload_options.ok_or("a seed workload's run records its options")?;
        let judgement = w
            .check(&history, options)
            .map_err(|e| format!("the recorded history does not check: {e}"))?;
        return Ok((history, Judged::Workload(judgement)));
    }
    let Some(model) = args.workload.model() else {
        let report = checker::txn::check(&history)
            .map_err(|e| format!("the recorded history does not check: {e}"))?;
        let require = crate::commands::check::Required::isolation(args.require)?;
        return Ok((history, Judged::Isolation { report, require }));
    };
    let ladder = checker::consistency::assess(
        &history,
        model,
        &checker::consistency::Level::ALL,
        // Every key: run histories are checked in milliseconds, and each failing key gets a
        // witness.
        &args.ladder.apply(checker::Options {
            all_failures: true,
            ..Default::default()
        }),
    )
    .map_err(|e| format!("the recorded history does not check: {e}"))?;
    Ok((history, Judged::Consistency(ladder)))
}

/// The nodes' data directories, kept or dropped as `--keep-data` says; whether kept.
pub(super) fn keep_or_drop_data(
    run_dir: &std::path::Path,
    keep: KeepData,
    standing: checker::consistency::Standing,
) -> bool {
    if keep.keeps(standing) {
        return true;
    }
    match store::drop_data(&run_dir.join("nodes")) {
        Ok(freed) => eprintln!(
            "faultline: dropped the nodes' data directories ({:.1} MB; --keep-data {})",
            freed as f64 / 1e6,
            if keep == KeepData::Never {
                "never"
            } else {
                "on-failure, and the run holds"
            }
        ),
        Err(e) => eprintln!("faultline: could not drop the nodes' data directories: {e}"),
    }
    false
}

/// The results: `results.json`, the report, JUnit, the summary; the exit code.
pub(super) fn finish(
    run_dir: &std::path::Path,
    args: &RunArgs,
    config: &config::RunConfig,
    results: &results::RunResults,
    history: &checker::History,
    judged: &Judged,
) -> u8 {
    let _ = std::fs::write(
        run_dir.join("results.json"),
        serde_json::to_vec_pretty(results).expect("results serialize"),
    );
    // The report, from what is in memory: the history, the config and the results.
    let report =
        crate::report::run_page(run_dir, history, Some(config), Some(results)).and_then(|html| {
            crate::report::write_atomically(&run_dir.join("report.html"), html.as_bytes())
        });
    if let Err(e) = report {
        eprintln!("faultline: no report.html: {e}");
    }
    if let Some(path) = &args.junit {
        use crate::report::junit;
        let xml = junit::document(&[
            judged.junit(),
            junit::faults_suite(&config.faults, &results.unapplied),
        ]);
        if let Err(e) = crate::report::write_atomically(path, xml.as_bytes()) {
            eprintln!("faultline: no JUnit file: {e}");
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(results).expect("results serialize")
        );
    } else {
        print_summary(results, judged, args.level());
    }
    if results.interrupted {
        eprintln!("faultline: interrupted; everything was healed and the partial history checked");
        return EXIT_INTERRUPTED;
    }
    results.verdict.exit_code() as u8
}

pub(super) fn print_summary(
    summary: &results::RunResults,
    judged: &Judged,
    require: checker::consistency::Level,
) {
    let main = &summary.main_phase;
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1} ms"));
    let faults = Some(crate::report::fault_counts(&summary.faults))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none".into());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "ops       {} in {:.1} s ({:.0}/s): ok {}, fail {}, info {}",
        main.ops, summary.main_phase_s, main.throughput, main.ok, main.fail, main.info
    );
    let _ = writeln!(
        out,
        "latency   p50 {}, p99 {} (ok operations)",
        ms(main.latency_ms.p50),
        ms(main.latency_ms.p99)
    );
    let _ = writeln!(out, "faults    {faults}");
    for (kind, why) in &summary.unapplied {
        let _ = writeln!(out, "not applied  {kind}: {why}");
    }
    for o in &summary.outages {
        let who = o
            .node
            .as_ref()
            .map_or("the cluster".to_string(), |n| format!("node {n}"));
        let why = o
            .why
            .as_deref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        let what = match &o.node {
            Some(_) => "no answer through",
            None => "no ok operation on",
        };
        let _ = writeln!(
            out,
            "outage    {what} {who} from {:.1} s to {:.1} s{why}",
            o.from_s, o.to_s
        );
        if let Some(during) = &o.during {
            let _ = writeln!(
                out,
                "          during faultline's own faults: {}",
                base::cut(during, 160)
            );
        }
    }
    let _ = writeln!(out, "stored    {}", summary.run_dir);
    let _ = writeln!(out, "report    {}", summary.report);
    let _ = write!(out, "{}", judged.render());
    let (name, standing) = (judged.required(require), judged.standing(require));
    let _ = writeln!(out, "  required: {name} {}", summary.verdict.words());
    if summary.verdict != standing {
        let kinds: Vec<String> = summary.unapplied.iter().map(|u| u.0.clone()).collect();
        let _ = writeln!(
            out,
            "  (the history {} {name}, but {} was asked for and never applied: a fault test that injected nothing passes nothing)",
            standing.words(),
            checker::consistency::words::list(&kinds)
        );
    }
}
