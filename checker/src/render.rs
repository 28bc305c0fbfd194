//! Reports for people: a check's result as plain text.

use crate::consistency::{words, Ladder, Level, Standing};
use crate::result::{KeyReport, OpView, Report, Verdict};
use std::fmt::Write;
use words::Clock;

/// How many operations of a long prefix to show (the last ones matter most).
const PREFIX_SHOWN: usize = 8;

/// The report as text, ending in a newline.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let keys = report.keys.len();
    let _ = writeln!(
        out,
        "{}: {} ({}, {} ops, {} key{}, {:.1} ms)",
        report.source,
        report.verdict.words(),
        report.model,
        report.ops,
        keys,
        if keys == 1 { "" } else { "s" },
        report.elapsed_ms.as_secs_f64() * 1e3
    );
    for k in &report.keys {
        match k.verdict {
            Verdict::Linearizable => {}
            Verdict::Unknown => {
                let _ = writeln!(
                    out,
                    "  key {}: unknown — {}",
                    key_label(k),
                    k.reason.as_deref().unwrap_or("not decided")
                );
            }
            Verdict::NotLinearizable => key_failure(&mut out, k),
        }
    }
    out
}

fn key_label(k: &KeyReport) -> String {
    match &k.key {
        Some(key) => format!("{key:?}"),
        None => "(single register)".into(),
    }
}

fn key_failure(out: &mut String, k: &KeyReport) {
    let _ = writeln!(
        out,
        "  key {}: not linearizable ({} ops, {} search steps)",
        key_label(k),
        k.ops,
        k.steps
    );
    let Some(c) = &k.counterexample else {
        return;
    };
    if c.prefix.is_empty() {
        let _ = writeln!(out, "    No operation could take effect first.");
    } else {
        let shown = c.prefix.len().min(PREFIX_SHOWN);
        let _ = writeln!(
            out,
            "    Longest linearizable prefix ({} op{}{}):",
            c.prefix.len(),
            if c.prefix.len() == 1 { "" } else { "s" },
            if shown < c.prefix.len() {
                format!(", last {shown} shown")
            } else {
                String::new()
            }
        );
        for op in &c.prefix[c.prefix.len() - shown..] {
            let _ = writeln!(out, "      {}", op_line(op));
        }
    }
    let _ = writeln!(out, "    State after it: {}", c.state);
    let _ = writeln!(out, "    Cannot follow:  {}", op_line(&c.blocked));
    for op in c.pending.iter().take(PREFIX_SHOWN) {
        let _ = writeln!(out, "    Also pending:   {}", op_line(op));
    }
    if c.pending.len() > PREFIX_SHOWN {
        let _ = writeln!(
            out,
            "    … and {} more pending",
            c.pending.len() - PREFIX_SHOWN
        );
    }
    let _ = writeln!(out, "    {}", c.explanation);
}

/// `#12 p3 write 4   lines 20–23`
pub fn op_line(op: &OpView) -> String {
    let lines = match op.complete_line {
        Some(c) => format!("lines {}–{}", op.invoke_line, c),
        None => format!("line {}, never completed", op.invoke_line),
    };
    let outcome = match op.outcome {
        crate::history::Outcome::Info => " (indeterminate)",
        _ => "",
    };
    format!(
        "#{:<5} p{:<3} {:<24} {lines}{outcome}",
        op.id, op.process, op.description
    )
}

/// The consistency ladder as text: one line per model, the strongest that holds, then each
/// anomaly in words with its witness drawn as a small timeline. Ends in a newline.
pub fn ladder(l: &Ladder) -> String {
    ladder_shown(l, false)
}

/// [`ladder`], every anomaly and every witness operation printed when `all`.
pub fn ladder_shown(l: &Ladder, all: bool) -> String {
    let mut out = String::new();
    let versions = match (l.versions.recorded, l.versions.derived) {
        (0, 0) => String::new(),
        (r, 0) => format!(
            "; version order recorded by the target for {r} key{}",
            plural(r)
        ),
        (0, d) => format!(
            "; version order derived from real time for {d} key{}",
            plural(d)
        ),
        (r, d) => format!(
            "; version order recorded for {r} key{}, derived for {d}",
            plural(r)
        ),
    };
    let paths = l.linearizability.as_ref().map_or(String::new(), |r| {
        let exact = r
            .keys
            .iter()
            .filter(|k| k.decided_by == crate::result::DecidedBy::UniqueValues)
            .count();
        match (exact, r.keys.len() - exact) {
            (0, 0) => String::new(),
            (0, s) => format!("; {s} key{} decided by search", plural(s)),
            (e, 0) => format!("; {e} key{} decided by unique values: exact", plural(e)),
            (e, s) => format!(
                "; {e} key{} decided by unique values: exact, {s} by search",
                plural(e)
            ),
        }
    });
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let _ = writeln!(
        out,
        "{}: consistency ({}{versions}{paths}; verdict in {:.1} ms, witnesses in {:.1} ms)",
        l.source,
        l.model,
        ms(l.verdict_ms),
        ms(l.witness_ms)
    );
    let width = l
        .levels
        .iter()
        .map(|r| r.model.name().len())
        .max()
        .unwrap_or(0);
    for r in &l.levels {
        let mark = match r.standing {
            Standing::Holds => "✓",
            Standing::Violated => "✗",
            Standing::Unknown => "?",
        };
        let line = format!(
            "  {mark} {:<width$}  {:<8}  {}",
            r.model.name(),
            r.standing.words(),
            r.reason.as_deref().unwrap_or("")
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for note in &l.versions.notes {
        let _ = writeln!(out, "  note: versions not used for {note}");
    }
    let strongest: Vec<&str> = l.strongest.iter().map(|m| m.name()).collect();
    let _ = writeln!(
        out,
        "  strongest model that holds: {}",
        if strongest.is_empty() {
            "none".to_string()
        } else {
            strongest.join(", ")
        }
    );
    out.push_str(&anomalies(l, all));
    out
}

/// Anomalies the terminal shows before "and N more" (all with `--all`).
pub const ANOMALIES_SHOWN: usize = 10;
/// Witness operations the terminal shows (all with `--all`); the JSON and the report hold
/// every one.
pub const WITNESS_LINES: usize = 24;

/// The anomalies, numbered, each with its witness as a timeline — bounded unless `all`.
fn anomalies(l: &Ladder, all: bool) -> String {
    let mut out = String::new();
    let shown = if all {
        l.anomalies.len()
    } else {
        l.anomalies.len().min(ANOMALIES_SHOWN)
    };
    for (i, a) in l.anomalies.iter().enumerate().take(shown) {
        let breaks: Vec<&str> = a.breaks.iter().map(|m| m.name()).collect();
        let _ = writeln!(
            out,
            "\n  {}. {}{} (breaks {})",
            i + 1,
            a.kind.words(),
            a.key
                .as_deref()
                .map(|k| format!(" on {k}"))
                .unwrap_or_default(),
            breaks.join(", ")
        );
        let _ = writeln!(out, "     {}.", a.sentence);
        if let Some(why) = &a.unconfirmed {
            let _ = writeln!(out, "     not confirmed: {why}.");
            continue;
        }
        let unshrunk = match (a.minimal, l.witnesses_shrunk) {
            (true, _) => "",
            (false, true) => " (not shrunk to the end in time)",
            (false, false) => " (not shrunk: --no-witness)",
        };
        let n = a.witness.len();
        if !all && !a.minimal && n > WITNESS_LINES {
            // A witness nobody could shrink proves little to a reader: one line here, every
            // operation in the JSON and the report.
            let _ = writeln!(
                out,
                "     witness, {n} operations{unshrunk}: too many to read here — `--json` and the report list them, `--all` prints them"
            );
            continue;
        }
        let _ = writeln!(out, "     witness, {n} operation{}{unshrunk}:", plural(n));
        let lines = words::timeline(Clock { timed: l.timed }, &a.witness);
        let keep = if all {
            lines.len()
        } else {
            lines.len().min(WITNESS_LINES)
        };
        for line in &lines[..keep] {
            let _ = writeln!(out, "       {line}");
        }
        if keep < lines.len() {
            let _ = writeln!(
                out,
                "       … and {} more operations (`--all` prints them)",
                lines.len() - keep
            );
        }
    }
    if shown < l.anomalies.len() {
        let _ = writeln!(
            out,
            "\n  … and {} more anomalies — `--all` lists them (`--json` and the report hold every one)",
            l.anomalies.len() - shown
        );
    }
    out
}

/// The ladder, then the verdict of the model that decides the exit code.
pub fn ladder_requiring(l: &Ladder, require: Level) -> String {
    format!(
        "{}  required: {require} {}\n",
        ladder(l),
        l.standing(require).words()
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
