//! Transactional histories in `faultline check`: read fast when the file is a clean one of
//! transactions, judged by the isolation ladder ([`checker::txn`]), printed and drawn.

use super::*;

/// How long a big transactional check took, phase by phase, for stderr.
pub(super) fn phases_line(read: f64, phases: &[(&str, f64)]) -> String {
    let parts: Vec<String> = std::iter::once(("read", read))
        .chain(phases.iter().copied())
        .map(|(name, s)| format!("{name} {s:.2} s"))
        .collect();
    format!("phases: {}\n", parts.join(" · "))
}

/// The transactions of a clean one-event-per-line file of them, read straight from its text
/// (a million in seconds, [`checker::txn::read`]); `None` for anything else — a history of
/// registers, or one the general reader should judge and explain.
pub(super) fn fast_transactions(
    file: &std::path::Path,
    format: Format,
) -> Option<Vec<checker::txn::Txn>> {
    use std::io::Read as _;
    if !matches!(format, Format::Auto | Format::JepsenEdn | Format::Jsonl) {
        return None;
    }
    let mut head = Vec::new();
    let mut f = std::fs::File::open(file).ok()?;
    (&mut f).take(64 * 1024).read_to_end(&mut head).ok()?;
    let whole_lines = &head[..head.iter().rposition(|&b| b == b'\n')? + 1];
    let text = std::str::from_utf8(whole_lines).ok()?;
    let json = text.trim_start().starts_with("{\"");
    let named = match format {
        Format::Jsonl => json,
        Format::JepsenEdn => !json,
        _ => true,
    };
    if !named || checker::txn::read::fast(text).is_none() {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    checker::txn::read::fast(&text)
}

/// A transactional history: the isolation ladder, its anomalies, and the exit code of the
/// level `--require` (or `--isolation`) names; with the history, `--html` draws it.
pub(super) fn transactions_checked(
    report: Result<checker::txn::Report, String>,
    history: Option<&History>,
    args: &CheckArgs,
    source: &str,
) -> Checked {
    let (report, isolation) = match (report, args.isolation()) {
        (Ok(r), Ok(i)) => (r, i),
        (Err(e), _) | (_, Err(e)) => return bad_input(args, source, &e),
    };
    let standing = report.standing(isolation);
    let stdout = if args.json {
        let doc = serde_json::json!({
            "source": report.source,
            "require": isolation,
            "verdict": standing,
            "isolation": report,
        });
        format!("{doc}\n")
    } else {
        let shown = if args.all {
            usize::MAX
        } else {
            checker::render::ANOMALIES_SHOWN
        };
        format!(
            "{}  required: {} {}\n",
            checker::txn::render(&report, shown),
            isolation,
            standing.words()
        )
    };
    let mut checked = Checked {
        code: standing.exit_code() as u8,
        agree: None,
        suite: junit::isolation_suite(&report),
        stdout,
        stderr: String::new(),
    };
    if let (Some(out), Some(history)) = (&args.html, history) {
        let facts = vec![
            ("workload".to_string(), report.workload.to_string()),
            ("transactions".to_string(), report.transactions.to_string()),
        ];
        let title = std::path::Path::new(source)
            .file_name()
            .map_or_else(|| source.to_string(), |n| n.to_string_lossy().into_owned());
        let html = report::isolation::html(history, &report, isolation, &title, &facts, &[]);
        write_page(out, &html, &mut checked);
    }
    checked
}
