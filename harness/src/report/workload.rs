//! The page of a seed workload's history (bank, set, counter, lock, unique ids, queue): the
//! checker's verdict, each violation in words with the operations that prove it, its notes and
//! figures, and what the workload shows best drawn beside them — a bank's read totals over time
//! by node, a lock's holders over time. Like the rest of the report it draws what the history
//! holds and judges nothing itself.

use super::{esc, framed, moment};
use checker::history::{History, Outcome};
use checker::workloads::{Judgement, Workload};
use std::fmt::Write as _;

/// The whole page; `facts` are the summary's labelled lines, `notes` remarks beside the
/// checker's own.
pub fn html(
    history: &History,
    j: &Judgement,
    title: &str,
    facts: &[(String, String)],
    notes: &[String],
) -> String {
    framed(history, title, &history.source_name, |out| {
        summary(out, j, facts, notes);
        violations(out, history, j);
        match j.workload {
            Workload::Bank => bank_totals(out, history),
            Workload::Lock => lock_holders(out, history),
            _ => {}
        }
    })
}

fn summary(out: &mut String, j: &Judgement, facts: &[(String, String)], notes: &[String]) {
    let standing = j.standing.words();
    let _ = write!(
        out,
        "<section id=\"summary\"><h2>Summary</h2>\
         <p id=\"verdict\" class=\"verdict {standing}\">{}: <b>{standing}</b>{}</p><table id=\"facts\">",
        j.workload,
        j.why.as_deref().map(|w| format!(" — {}", esc(w))).unwrap_or_default()
    );
    let counts = j.counts.iter().map(|(k, v)| (k.clone(), v.to_string()));
    for (label, value) in facts.iter().cloned().chain(counts) {
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(&label),
            esc(&value)
        );
    }
    out.push_str("</table>");
    for note in notes.iter().chain(&j.notes) {
        let _ = write!(out, "<p class=\"note\">{}</p>", esc(note));
    }
    out.push_str("</section>\n");
}

/// Each violation in words, then the operations it names.
fn violations(out: &mut String, history: &History, j: &Judgement) {
    let _ = write!(
        out,
        "<section id=\"anomalies\"><h2>Violations ({})</h2>",
        j.violations.len()
    );
    if j.violations.is_empty() {
        out.push_str("<p>None.</p>");
    }
    for v in &j.violations {
        let _ = write!(
            out,
            "<div class=\"anomaly\"><h3>{}</h3><p>{}</p><table class=\"witness\"><thead><tr><th>process</th><th>operation</th><th>outcome</th><th>invoked</th><th>completed</th></tr></thead><tbody>",
            esc(v.kind),
            esc(&v.sentence)
        );
        for o in v.ops.iter().filter_map(|&id| history.ops.get(id)) {
            let value = match o.outcome {
                Outcome::Ok if !o.output.is_null() => &o.output,
                _ => &o.input,
            };
            let _ = write!(
                out,
                "<tr><td>p{}</td><td>{} {}</td><td>{:?}</td><td>{}</td><td>{}</td></tr>",
                o.process,
                esc(&o.f),
                esc(&checker::model::show_value(value)),
                o.outcome,
                moment(o.invoke_time, history.timed),
                o.complete_time
                    .map_or("—".into(), |t| moment(t, history.timed))
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</section>\n");
}

/// Every `ok` read's total against time, one colour per node, as an SVG scatter: a bank that
/// keeps its promise is one flat line.
fn bank_totals(out: &mut String, history: &History) {
    let points: Vec<(u64, i128, String)> = history
        .ops
        .iter()
        .filter(|o| o.f == "read" && o.outcome == Outcome::Ok)
        .filter_map(|o| {
            let total = checker::workloads::bank::sum(o.output.as_object()?)?;
            let node = o.node.as_deref().unwrap_or("?").to_string();
            Some((o.complete_time.unwrap_or(o.invoke_time), total, node))
        })
        .collect();
    let (Some(t_max), Some(lo), Some(hi)) = (
        points.iter().map(|p| p.0).max(),
        points.iter().map(|p| p.1).min(),
        points.iter().map(|p| p.1).max(),
    ) else {
        return;
    };
    let mut nodes: Vec<&str> = points.iter().map(|p| p.2.as_str()).collect();
    nodes.sort_unstable();
    nodes.dedup();
    const COLOURS: [&str; 6] = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
    ];
    let (w, h) = (800.0, 200.0);
    let span = (hi - lo).max(1) as f64;
    let _ = write!(
        out,
        "<section id=\"bank\"><h2>Totals read, by node</h2><p>Each dot is one read's sum of balances ({lo} to {hi}).</p><svg viewBox=\"0 0 {w} {}\" width=\"100%\" role=\"img\" aria-label=\"bank totals over time\">",
        h + 20.0
    );
    for (t, total, node) in &points {
        let x = *t as f64 / t_max.max(1) as f64 * (w - 10.0) + 5.0;
        let y = h - (*total - lo) as f64 / span * (h - 10.0) - 5.0;
        let c = COLOURS[nodes.iter().position(|n| n == node).unwrap_or(0) % COLOURS.len()];
        let _ = write!(out, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.5\" fill=\"{c}\"><title>{} at {}: {total}</title></circle>", esc(node), moment(*t, history.timed));
    }
    for (i, n) in nodes.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"{}\" font-size=\"12\">{}</text>",
            10 + 60 * i,
            h + 16.0,
            COLOURS[i % COLOURS.len()],
            esc(n)
        );
    }
    out.push_str("</svg></section>\n");
}

/// Each process's holds as the history tells them — from the acknowledgement of its acquire to
/// the invocation of its next release — one row per process, as an SVG: two bars over the same
/// moment are two holders (the violations above name them).
fn lock_holders(out: &mut String, history: &History) {
    let mut open: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut bars: Vec<(u64, u64, u64, bool)> = Vec::new();
    let mut order: Vec<usize> = (0..history.ops.len()).collect();
    order.sort_by_key(|&i| history.ops[i].invoke_event);
    for o in order.iter().map(|&i| &history.ops[i]) {
        match (o.f.as_str(), o.outcome) {
            ("acquire" | "lock", Outcome::Ok) => {
                open.insert(o.process, o.complete_time.unwrap_or(o.invoke_time));
            }
            ("release" | "unlock", outcome) => {
                if let Some(from) = open.remove(&o.process) {
                    bars.push((o.process, from, o.invoke_time, outcome == Outcome::Ok));
                }
            }
            _ => {}
        }
    }
    let end = history
        .ops
        .iter()
        .filter_map(|o| o.complete_time)
        .max()
        .unwrap_or(0);
    bars.extend(open.into_iter().map(|(p, from)| (p, from, end, false)));
    if bars.is_empty() {
        return;
    }
    let mut rows: Vec<u64> = bars.iter().map(|b| b.0).collect();
    rows.sort_unstable();
    rows.dedup();
    let (w, row_h) = (800.0, 14.0);
    let t_max = end.max(1) as f64;
    let _ = write!(
        out,
        "<section id=\"holders\"><h2>Holders over time</h2><p>One row per process: a bar from the acknowledgement of its acquire to the start of its release (grey: the release was not acknowledged, so the hold is not proven past the acquire).</p><svg viewBox=\"0 0 {w} {}\" width=\"100%\" role=\"img\" aria-label=\"lock holders over time\">",
        rows.len() as f64 * row_h + 4.0
    );
    for (p, from, to, proven) in &bars {
        let y = rows.iter().position(|r| r == p).unwrap_or(0) as f64 * row_h + 2.0;
        let x = *from as f64 / t_max * w;
        let width = ((*to).max(*from) - from) as f64 / t_max * w;
        let fill = if *proven { "#1f77b4" } else { "#bbbbbb" };
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"><title>p{p}: {} – {}</title></rect>",
            width.max(1.0),
            row_h - 3.0,
            moment(*from, history.timed),
            moment(*to, history.timed)
        );
    }
    out.push_str("</svg></section>\n");
}
