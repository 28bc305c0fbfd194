//! A register history in `faultline check`: read with Knossos's conventions as asked, put
//! through the consistency ladder, its verdict printed (unknown when it rests on where the
//! registers start), drawn with `--html`, and set beside Jepsen's.

use super::*;

/// A register history through the consistency ladder: its verdict (unknown when it rests on
/// where the registers start), the notes on Knossos's conventions, Jepsen's verdict beside it.
pub(super) fn registers_checked(
    history: History,
    found: &Found,
    args: &CheckArgs,
    progress: bool,
) -> Checked {
    let label = found.history.display().to_string();
    let Prepared {
        history,
        model,
        strict,
    } = match prepare(history, args) {
        Ok(p) => p,
        Err(e) => return bad_input(args, &label, &e),
    };
    let counters = Arc::new(Counters::default());
    let opts = args.ladder.apply(Options {
        timeout: args.timeout.map(Duration::from_secs_f64),
        all_failures: args.all_failures,
        threads: 0,
        progress: progress.then(|| counters.clone()),
        ..Options::default()
    });
    let mut levels = args.consistency.0.clone();
    if !levels.contains(&args.level()) {
        levels.push(args.level());
    }
    let assess = || consistency::assess(&history, model, &levels, &opts);
    let ladder = match progress {
        true => with_progress(&label, &counters, assess),
        false => assess(),
    };
    let ladder = match ladder {
        Ok(l) => l,
        Err(e) => return bad_input(args, &label, &e.to_string()),
    };
    let mut notes = history.notes.clone();
    let strict = strict.as_ref().unwrap_or(&history);
    notes.extend(knossos_rule_note(strict, model, &ladder, args, &opts));
    let ambiguity = match initial_ambiguity(&history, model, &ladder, &levels, args, &opts) {
        Ok(a) => a,
        Err(e) => return bad_input(args, &label, &e),
    };
    let verdict = Verdict {
        standing: match ambiguity {
            Some(_) => Standing::Unknown,
            None => ladder.standing(args.level()),
        },
        why: ambiguity,
    };
    let jepsen = found.results.as_deref().map(|r| {
        store::jepsen_verdict(r)
            .map(|v| Comparison::of(v, verdict.standing, args.level().name()))
            .map_err(|e| e.to_string())
    });
    let mut checked = Checked {
        code: verdict.standing.exit_code() as u8,
        agree: jepsen.as_ref().and_then(|j| j.as_ref().ok()?.agree),
        suite: junit::suite(&ladder),
        stdout: render(&ladder, args, &verdict, &notes, jepsen.as_ref()),
        stderr: String::new(),
    };
    if let Some(out) = &args.html {
        write_report(out, &history, &ladder, args.level(), &mut checked);
    }
    checked
}

/// `--html OUT`: the report of one history checked on its own; said on stderr, and a failure to
/// write it is bad input.
pub(super) fn write_report(
    out: &std::path::Path,
    history: &History,
    ladder: &Ladder,
    require: Level,
    checked: &mut Checked,
) {
    let label = history.source_name.clone();
    let context = report::Context {
        title: std::path::Path::new(&label)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| label.clone()),
        require,
        facts: history_facts(history, ladder, &label),
        notes: Vec::new(),
    };
    let html = report::html(history, ladder, &context);
    write_page(out, &html, checked);
}

/// The summary facts of a history checked on its own.
pub(super) fn history_facts(
    history: &History,
    ladder: &Ladder,
    source: &str,
) -> Vec<(String, String)> {
    let count = |o: Outcome| history.ops.iter().filter(|op| op.outcome == o).count();
    let processes = history
        .ops
        .iter()
        .map(|o| o.process)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let keys = history.by_key().len();
    let span = match history.span() {
        Some((a, b)) if history.timed => format!("{:.3} s", b.saturating_sub(a) as f64 / 1e9),
        _ => format!(
            "{} events (the format records no times)",
            history.event_count()
        ),
    };
    vec![
        ("history".into(), source.to_string()),
        ("format".into(), history.format.name().to_string()),
        ("data type".into(), ladder.model.to_string()),
        (
            "operations".into(),
            format!(
                "{}: ok {}, fail {}, info {}; {processes} processes, {keys} keys",
                history.ops.len(),
                count(Outcome::Ok),
                count(Outcome::Fail),
                count(Outcome::Info)
            ),
        ),
        ("duration".into(), span),
        (
            "faults recorded".into(),
            history.nemesis_events().count().to_string() + " nemesis events",
        ),
        (
            "checked in".into(),
            format!("{:.0} ms", ladder.elapsed_ms.as_secs_f64() * 1e3),
        ),
    ]
}

/// The ladder as the command prints it, text or one JSON line.
/// The verdict of the required model: the ladder's own, or unknown when it rests on an
/// assumption the history leaves open (`why`).
pub(super) struct Verdict {
    standing: Standing,
    why: Option<String>,
}

pub(super) fn render(
    ladder: &Ladder,
    args: &CheckArgs,
    verdict: &Verdict,
    notes: &[String],
    jepsen: Option<&Result<Comparison, String>>,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let require = args.level();
    if args.json {
        let jepsen = jepsen.map(|j| match j {
            Ok(c) => serde_json::json!(c),
            Err(e) => serde_json::json!({"error": e}),
        });
        let doc = serde_json::json!({
            "source": ladder.source,
            "require": require,
            "verdict": verdict.standing,
            "undecided_because": verdict.why,
            "notes": notes,
            "jepsen": jepsen,
            "ladder": ladder,
        });
        let _ = writeln!(out, "{doc}");
        return out;
    }
    let _ = write!(out, "{}", checker::render::ladder_shown(ladder, args.all));
    let _ = writeln!(out, "  required: {require} {}", verdict.standing.words());
    if let Some(why) = &verdict.why {
        let _ = writeln!(out, "  unknown: {why}");
    }
    for n in notes {
        let _ = writeln!(out, "  note: {n}");
    }
    match jepsen {
        Some(Ok(c)) => {
            let _ = writeln!(out, "  {}", c.sentence());
        }
        Some(Err(e)) => {
            let _ = writeln!(out, "  Jepsen's verdict could not be read: {e}");
        }
        None => {}
    }
    out
}

/// A history ready to check.
pub(super) struct Prepared {
    /// With the conventions asked for.
    history: History,
    model: ModelKind,
    /// Under `--nil-reads any`, the same history under the strict rule, to compare.
    strict: Option<History>,
}

/// The history as it is to be checked, with the conventions asked for, and its data type.
pub(super) fn prepare(history: History, args: &CheckArgs) -> Result<Prepared, String> {
    let model = match args.model {
        Some(m) => m,
        None => ModelKind::infer(&history).map_err(|e| format!("{}: {e}", history.source_name))?,
    };
    let mut history = history;
    if let Some(Initial::Value(v)) = &args.initial {
        history = conventions::with_initial(&history, v);
    }
    let mut strict = None;
    if args.nil_reads == NilReads::Any {
        let lax = conventions::nil_reads_match_any(&history);
        strict = Some(std::mem::replace(&mut history, lax));
    }
    Ok(Prepared {
        history,
        model,
        strict,
    })
}
