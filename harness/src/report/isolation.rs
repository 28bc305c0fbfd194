//! The page of a transactional history: the isolation ladder, each anomaly in words with its
//! cycle drawn as a small graph (transactions round a circle, one arrow per dependency), and
//! the transactions on the same timeline as every other page. Like the rest of the report it
//! shows what the checker said and judges nothing itself.

use super::{esc, framed};
use checker::consistency::Standing;
use checker::history::History;
use checker::txn::{Anomaly, Isolation, Report};
use std::fmt::Write as _;

/// The whole page; `facts` are the summary's labelled lines, `notes` remarks beside the
/// checker's own (a fault that could not be applied, and such).
pub fn html(
    history: &History,
    report: &Report,
    require: Isolation,
    title: &str,
    facts: &[(String, String)],
    notes: &[String],
) -> String {
    framed(history, title, &report.source, |out| {
        summary(out, report, require, facts, notes);
        anomalies(out, report);
    })
}

fn summary(
    out: &mut String,
    report: &Report,
    require: Isolation,
    facts: &[(String, String)],
    notes: &[String],
) {
    let standing = report.standing(require).words();
    let strongest: Vec<&str> = report.strongest.iter().map(|m| m.name()).collect();
    let _ = write!(
        out,
        "<section id=\"summary\"><h2>Summary</h2>\
         <p id=\"verdict\" class=\"verdict {standing}\">{require}: <b>{standing}</b></p>\
         <p id=\"strongest\">Strongest isolation level that holds: <b>{}</b></p><table id=\"facts\">",
        if strongest.is_empty() {
            "none".to_string()
        } else {
            esc(&strongest.join(", "))
        }
    );
    for (label, value) in facts {
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(label),
            esc(value)
        );
    }
    out.push_str("</table>");
    for note in notes.iter().chain(&report.notes) {
        let _ = write!(out, "<p class=\"note\">{}</p>", esc(note));
    }
    out.push_str(
        "<table id=\"ladder\"><thead><tr><th>isolation level</th><th>standing</th><th>anomalies</th></tr></thead><tbody>",
    );
    for l in &report.levels {
        let standing = l.standing.words();
        let names: std::collections::BTreeSet<String> = l
            .anomalies
            .iter()
            .map(|&i| report.anomalies[i].name())
            .collect();
        let _ = write!(
            out,
            "<tr class=\"{standing}\"><td>{}</td><td><span class=\"badge {standing}\">{standing}</span></td><td>{}</td></tr>",
            l.model,
            esc(&names.into_iter().collect::<Vec<_>>().join(", "))
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn anomalies(out: &mut String, report: &Report) {
    let _ = write!(
        out,
        "<section id=\"anomalies\"><h2>Anomalies ({})</h2>",
        report.anomalies.len()
    );
    out.push_str(if report.anomalies.is_empty() {
        "<p class=\"none\">None found.</p>"
    } else {
        "<p class=\"hint\">Click an anomaly to see its transactions on the timeline.</p>"
    });
    for (i, a) in report.anomalies.iter().enumerate() {
        let breaks: Vec<&str> = report
            .levels
            .iter()
            .filter(|l| l.standing == Standing::Violated && l.anomalies.contains(&i))
            .map(|l| l.model.name())
            .collect();
        let ids: Vec<String> = a.txns.iter().map(usize::to_string).collect();
        let _ = write!(
            out,
            "<article class=\"anomaly\" id=\"anomaly-{n}\" data-ops=\"{ops}\" tabindex=\"0\">\
             <h3>{n}. {title}</h3><p class=\"breaks\">breaks {breaks}</p>\
             <p class=\"sentence\">{sentence}</p>",
            n = i + 1,
            ops = ids.join(" "),
            title = esc(&match a.order {
                Some(_) => format!("{} — {}", a.name(), a.kind.words()),
                None => a.kind.words().to_string(),
            }),
            breaks = esc(&breaks.join(", ")),
            sentence = esc(&a.sentence),
        );
        if !a.deps.is_empty() {
            out.push_str(&cycle_svg(a));
        }
        if !a.steps.is_empty() {
            out.push_str("<ol class=\"steps\">");
            for step in &a.steps {
                let _ = write!(out, "<li>{}</li>", esc(step));
            }
            out.push_str("</ol>");
        }
        out.push_str("</article>");
    }
    out.push_str("</section>\n");
}

/// A dependency's colour and whether it is drawn dashed (the orders that are not data).
fn style(dep: &str) -> (&'static str, bool) {
    match dep {
        "ww" => ("#1c7ed6", false),
        "wr" => ("#2f9e44", false),
        "rw" => ("#e03131", false),
        "process" => ("#7048e8", true),
        _ => ("#f08c00", true),
    }
}

/// A cycle as an SVG: its transactions round a circle, each step an arrow bent outwards so a
/// pair of opposite steps never overlap, labelled with its dependency.
pub fn cycle_svg(a: &Anomaly) -> String {
    let n = a.txns.len().max(1);
    let radius = 44.0 + 14.0 * n as f64;
    let size = 2.0 * radius + 90.0;
    let centre = size / 2.0;
    let at = |i: usize| {
        let angle = std::f64::consts::TAU * i as f64 / n as f64 - std::f64::consts::FRAC_PI_2;
        (centre + radius * angle.cos(), centre + radius * angle.sin())
    };
    let mut svg = format!(
        "<svg class=\"cycle\" role=\"img\" aria-label=\"the cycle of {}\" width=\"{size:.0}\" height=\"{size:.0}\" viewBox=\"0 0 {size:.0} {size:.0}\">",
        esc(&a.name())
    );
    for dep in ["ww", "wr", "rw", "process", "realtime"] {
        let _ = write!(
            svg,
            "<defs><marker id=\"arrow-{dep}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker></defs>",
            style(dep).0
        );
    }
    for (i, dep) in a.deps.iter().enumerate() {
        let ((x1, y1), (x2, y2)) = (at(i), at((i + 1) % n));
        // Stop short of the nodes' circles, and bend to the left of the direction of travel.
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        let (sx, sy, ex, ey) = (
            x1 + ux * 20.0,
            y1 + uy * 20.0,
            x2 - ux * 20.0,
            y2 - uy * 20.0,
        );
        let bend = 0.18 * len;
        let (cx, cy) = ((x1 + x2) / 2.0 + uy * bend, (y1 + y2) / 2.0 - ux * bend);
        let (colour, dashed) = style(dep);
        let _ = write!(
            svg,
            "<path d=\"M{sx:.1},{sy:.1} Q{cx:.1},{cy:.1} {ex:.1},{ey:.1}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{} marker-end=\"url(#arrow-{dep})\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\" font-size=\"12\" text-anchor=\"middle\">{dep}</text>",
            if dashed { " stroke-dasharray=\"5 3\"" } else { "" },
            (sx + 2.0 * cx + ex) / 4.0 + uy * 10.0,
            (sy + 2.0 * cy + ey) / 4.0 - ux * 10.0 + 4.0,
        );
    }
    for (i, id) in a.txns.iter().enumerate() {
        let (x, y) = at(i);
        let _ = write!(
            svg,
            "<g data-op=\"{id}\"><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"18\" fill=\"#fff\" stroke=\"#495057\" stroke-width=\"1.5\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">T{id}</text></g>",
            y + 4.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::import::{parse_str, Format};

    const SKEW: &str = "{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil] [:append 2 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r 2 nil] [:append 1 2]]}
{:process 0, :type :ok, :f :txn, :value [[:r 1 []] [:append 2 1]]}
{:process 1, :type :ok, :f :txn, :value [[:r 2 []] [:append 1 2]]}
{:process 2, :type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil]]}
{:process 2, :type :ok, :f :txn, :value [[:r 1 [2]] [:r 2 [1]]]}
";

    #[test]
    fn a_write_skew_page_draws_its_cycle_and_tells_its_steps() {
        let h = parse_str("skew.edn", SKEW, Format::JepsenEdn).unwrap();
        let r = checker::txn::check(&h).unwrap();
        let page = html(&h, &r, Isolation::Serializable, "skew.edn", &[], &[]);
        assert!(page.contains(
            "<p id=\"verdict\" class=\"verdict violated\">serializable: <b>violated</b></p>"
        ));
        assert!(page.contains("Strongest isolation level that holds: <b>snapshot-isolation</b>"));
        assert!(page.contains("<h3>1. G2-item (write skew)</h3>"), "{page}");
        assert!(page.contains("data-ops=\"0 1\""));
        // Two anti-dependencies, each an arrow labelled rw, between T0 and T1.
        let svg = &page[page.find("<svg class=\"cycle\"").unwrap()..];
        let svg = &svg[..svg.find("</svg>").unwrap()];
        assert_eq!(svg.matches("marker-end=\"url(#arrow-rw)\"").count(), 2);
        assert!(svg.contains(">T0</text>") && svg.contains(">T1</text>"));
        assert!(
            page.contains(
                "<li>T0 &lt; T1 because T0 read key 1 as [], without T1&#39;s append of 2</li>"
            ),
            "{page}"
        );
    }
}
