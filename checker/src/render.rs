//! Reports for people: a check's result as plain text.

use crate::result::{KeyReport, OpView, Report, Verdict};
use std::fmt::Write;

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
