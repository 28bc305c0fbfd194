//! Reports people read: one self-contained `report.html` per run (or per history), and JUnit XML
//! for CI dashboards ([`junit`]).
//!
//! The page is built here from three things: the history (every operation, and the nemesis's
//! events), the consistency ladder the checker produced for it, and — for a stored run — the
//! run's `config.json` and `results.json`. The parts a person reads first (summary, ladder,
//! anomalies with their witnesses) are plain HTML written by this module, so they read without
//! scripts and in any browser. The parts that need drawing (the timeline of every operation per
//! process, latency and throughput over time, the nodes' own events, fault intervals shaded
//! across all of them) are drawn on canvases by `report.js` from the data embedded in the page as
//! JSON: columns of numbers rather than objects, so 100,000 operations stay a few megabytes and
//! redraw in milliseconds.
//!
//! It is not a checker: it shows what the ladder says and never judges anything itself. It needs
//! no network: styles, script and data are all inside the one file.
//!
//! `faultline run` writes `report.html` into the run directory; `faultline report RUN_DIR`
//! regenerates it; `faultline check --html OUT FILE` makes one for any history.

pub mod isolation;
pub mod junit;
pub mod workload;

use crate::run::config::{RunConfig, StoredFlags};
use crate::run::results::RunResults;
use checker::consistency::{words, Ladder, Level};
use checker::history::{History, Outcome};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const SCRIPT: &str = include_str!("report.js");
/// The report's style sheet, shared with `faultline serve`'s pages.
pub const STYLE: &str = include_str!("report.css");

/// What a report shows besides the history and the ladder.
pub struct Context {
    /// The page's heading, e.g. `raftkv run 20261122T160152Z`.
    pub title: String,
    /// The model whose verdict is the headline.
    pub require: Level,
    /// Labelled facts for the summary table, in order.
    pub facts: Vec<(String, String)>,
    /// Remarks worth a reader's attention (faults that could not be applied, and such).
    pub notes: Vec<String>,
}

/// The whole page.
pub fn html(history: &History, ladder: &Ladder, context: &Context) -> String {
    let ladder_json = serde_json::to_value(ladder).expect("a ladder serializes");
    page(history, &ladder_json, context)
}

/// The page for a ladder already serialized (as `results.json` keeps it).
fn page(history: &History, ladder: &Value, context: &Context) -> String {
    let source = ladder["source"].as_str().unwrap_or("");
    framed(history, &context.title, source, |out| {
        summary(out, ladder, context);
        anomalies(out, ladder);
    })
}

/// A page: its heading, the parts `body` writes, then the history over time, drawn by the
/// script from the data embedded in the page.
pub(crate) fn framed(
    history: &History,
    title: &str,
    source: &str,
    body: impl FnOnce(&mut String),
) -> String {
    let data = data(history);
    // JSON can hold `<` only inside strings, where \u003c means the same; so the data can never
    // close its script element.
    let data = data.to_string().replace('<', "\\u003c");
    let mut out = String::with_capacity(data.len() + SCRIPT.len() + 64 * 1024);
    let title = esc(title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — faultline</title><style>{STYLE}</style></head><body>\n\
         <header><h1>{title}</h1><p class=\"sub\">faultline {} report · {}</p></header>\n",
        env!("CARGO_PKG_VERSION"),
        esc(source),
    );
    body(&mut out);
    out.push_str(
        "<section id=\"time\"><h2>Over time</h2>\
         <div id=\"controls\"><button id=\"all\" type=\"button\">whole run</button>\
         <button id=\"zoom-in\" type=\"button\">zoom in</button>\
         <button id=\"zoom-out\" type=\"button\">zoom out</button>\
         <span id=\"window\"></span>\
         <span class=\"hint\">wheel to zoom, drag to pan, double-click for the whole run; hover an operation for its details</span></div>\
         <div id=\"legend\"></div>\
         <canvas id=\"overview\" height=\"36\"></canvas>\
         <h3>Timeline: one row per process</h3>\
         <div id=\"timeline-box\"><canvas id=\"timeline\"></canvas></div>\
         <h3>Latency (log scale, by operation)</h3><canvas id=\"latency\" height=\"240\"></canvas>\
         <h3>Throughput (completions per second, by outcome)</h3><canvas id=\"throughput\" height=\"160\"></canvas>\
         <h3>Nodes</h3><canvas id=\"nodes\"></canvas>\
         <div id=\"tip\" role=\"tooltip\" hidden></div></section>\n",
    );
    let _ = write!(
        out,
        "<script id=\"data\" type=\"application/json\">{data}</script>\n<script>{SCRIPT}</script>\n</body></html>\n"
    );
    out
}

/// Summary: the headline verdict, the facts, the ladder.
fn summary(out: &mut String, ladder: &Value, context: &Context) {
    let require = context.require.name();
    let level = ladder["levels"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["model"] == require));
    let standing = level
        .and_then(|l| l["standing"].as_str())
        .unwrap_or("unknown");
    let _ = write!(
        out,
        "<section id=\"summary\"><h2>Summary</h2>\
         <p id=\"verdict\" class=\"verdict {standing}\">{require}: <b>{standing}</b></p>"
    );
    let strongest = strings(&ladder["strongest"]);
    let _ = write!(
        out,
        "<p id=\"strongest\">Strongest model that holds: <b>{}</b></p>",
        if strongest.is_empty() {
            "none".to_string()
        } else {
            esc(&strongest.join(", "))
        }
    );
    out.push_str("<table id=\"facts\">");
    for (label, value) in &context.facts {
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(label),
            esc(value)
        );
    }
    out.push_str("</table>");
    for note in &context.notes {
        let _ = write!(out, "<p class=\"note\">{}</p>", esc(note));
    }
    out.push_str(
        "<table id=\"ladder\"><thead><tr><th>model</th><th>standing</th><th>violations</th><th>why</th></tr></thead><tbody>",
    );
    for l in ladder["levels"].as_array().into_iter().flatten() {
        let standing = l["standing"].as_str().unwrap_or("unknown");
        let _ = write!(
            out,
            "<tr class=\"{standing}\"><td>{}</td><td><span class=\"badge {standing}\">{standing}</span></td><td>{}</td><td>{}</td></tr>",
            esc(l["model"].as_str().unwrap_or("")),
            l["violations"].as_u64().unwrap_or(0),
            esc(l["reason"].as_str().unwrap_or("")),
        );
    }
    out.push_str("</tbody></table></section>\n");
}

/// Anomalies: a card each, its sentence and its witness; the script makes each card a link into
/// the timeline.
fn anomalies(out: &mut String, ladder: &Value) {
    let list = ladder["anomalies"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let timed = ladder["timed"].as_bool().unwrap_or(true);
    let _ = write!(
        out,
        "<section id=\"anomalies\"><h2>Anomalies ({})</h2>",
        list.len()
    );
    if list.is_empty() {
        out.push_str("<p class=\"none\">None found.</p>");
    } else {
        out.push_str(
            "<p class=\"hint\">Click an anomaly to see its operations on the timeline.</p>",
        );
    }
    for (i, a) in list.iter().enumerate() {
        let ids: Vec<String> = a["witness"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["id"].as_u64())
            .map(|id| id.to_string())
            .collect();
        let breaks = strings(&a["breaks"]);
        let kind = a["kind"].as_str().unwrap_or("anomaly").replace('-', " ");
        let key = a["key"]
            .as_str()
            .map(|k| format!(" on {}", esc(k)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<article class=\"anomaly\" id=\"anomaly-{n}\" data-ops=\"{ops}\" tabindex=\"0\">\
             <h3>{n}. {kind}{key}</h3><p class=\"breaks\">breaks {breaks}</p>\
             <p class=\"sentence\">{sentence}</p>",
            n = i + 1,
            ops = ids.join(" "),
            kind = esc(&kind),
            breaks = esc(&breaks.join(", ")),
            sentence = esc(a["sentence"].as_str().unwrap_or("")),
        );
        let witness = a["witness"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let _ = write!(
            out,
            "<table class=\"witness\"><caption>witness, {} operation{}{}</caption>\
             <thead><tr><th>op</th><th>process</th><th>operation</th><th>outcome</th><th>time</th><th>node</th></tr></thead><tbody>",
            witness.len(),
            if witness.len() == 1 { "" } else { "s" },
            if a["minimal"].as_bool() == Some(false) {
                " (not shrunk to the minimum: the time budget ran out)"
            } else {
                ""
            }
        );
        for o in witness {
            let t = |v: &Value| v.as_u64().map(|t| moment(t, timed));
            let span = match (t(&o["invoke_time"]), t(&o["complete_time"])) {
                (Some(a), Some(b)) => format!("{a} – {b}"),
                (Some(a), None) => format!("{a} – never completed"),
                _ => String::new(),
            };
            let _ = write!(
                out,
                "<tr data-op=\"{id}\"><td>#{id}</td><td>p{p}</td><td>{d}</td><td class=\"{outcome}\">{outcome}</td><td>{span}</td><td>{node}</td></tr>",
                id = o["id"],
                p = o["process"],
                d = esc(o["description"].as_str().unwrap_or("")),
                outcome = esc(o["outcome"].as_str().unwrap_or("")),
                span = esc(&span),
                node = esc(o["node"].as_str().unwrap_or("")),
            );
        }
        out.push_str("</tbody></table></article>");
    }
    out.push_str("</section>\n");
}

/// The strings of a JSON array (nothing for anything else).
pub fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// `kill 1, partition 2` from a run's `faults` counts (empty when there are none).
pub fn fault_counts(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `12.345 s`, or `event 17` for histories without times.
fn moment(t: u64, timed: bool) -> String {
    if timed {
        format!("{:.3} s", t as f64 / 1e9)
    } else {
        format!("event {t}")
    }
}

/// Escapes text for HTML element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a fault does to the nodes it names, as the nodes lane shows it.
fn node_state(kind: &str) -> &str {
    match kind {
        "kill" => "down",
        "pause" => "paused",
        "clock" => "clock skewed",
        "partition" => "partitioned",
        // From its removal until it is a voter again.
        "membership" => "out of the configuration",
        other => other,
    }
}

/// Small tables of names the columns point into (operation kinds, keys, nodes).
#[derive(Default)]
struct Table {
    names: Vec<String>,
    slots: std::collections::HashMap<String, usize>,
}

impl Table {
    fn slot(&mut self, name: &str) -> usize {
        if let Some(&i) = self.slots.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.slots.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }
}

/// The embedded data the script draws from: exactly what `report.js` reads.
fn data(history: &History) -> Value {
    let timed = history.timed;
    // Microseconds keep the numbers short; untimed histories use event positions as they are.
    let t = |ns: u64| if timed { ns / 1000 } else { ns };
    let processes: BTreeSet<u64> = history.ops.iter().map(|o| o.process).collect();
    let row: BTreeMap<u64, usize> = processes.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let faults = history.faults();
    // Nodes in name order, whether an operation or a fault names them.
    let mut nodes = Table::default();
    let named: BTreeSet<&str> = history
        .ops
        .iter()
        .filter_map(|o| o.node.as_deref())
        .chain(
            faults
                .iter()
                .flat_map(|f| f.nodes.iter().map(String::as_str)),
        )
        .collect();
    for n in named {
        nodes.slot(n);
    }
    let (mut fs, mut keys) = (Table::default(), Table::default());
    let n = history.ops.len();
    let (mut p, mut f, mut k, mut t0, mut t1, mut o, mut d, mut nd, mut v) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut fin, mut errors) = (Vec::new(), Map::new());
    for op in &history.ops {
        p.push(row[&op.process]);
        f.push(fs.slot(&op.f));
        // A key-value operation without a key gets "".
        k.push(keys.slot(op.key.as_deref().unwrap_or("")));
        t0.push(t(op.invoke_time));
        t1.push(op.complete_time.map_or(-1, |c| t(c) as i64));
        o.push(match op.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            Outcome::Info => 2,
        });
        d.push(words::describe(op));
        nd.push(op.node.as_deref().map_or(-1, |x| nodes.slot(x) as i64));
        v.push(op.version.map_or(-1, |x| x as i64));
        if op.phase.as_deref() == Some("final") {
            fin.push(op.id);
        }
        if let Some(e) = &op.error {
            errors.insert(op.id.to_string(), json!(e));
        }
    }
    let end = history.span().map_or(0, |(_, last)| t(last));
    let fault_json: Vec<Value> = faults
        .iter()
        .map(|i| {
            json!({
                "kind": i.kind,
                "start": t(i.start),
                "end": i.end.map_or(end, t),
                "label": i.label,
            })
        })
        .collect();
    let mut node_events = Vec::new();
    for i in &faults {
        for node in &i.nodes {
            node_events.push(json!({
                "node": nodes.slot(node),
                "state": node_state(&i.kind),
                "kind": i.kind,
                "start": t(i.start),
                "end": i.end.map(t),
                "ended_by": i.ended_by,
            }));
        }
    }
    json!({
        "timed": timed,
        "end": end,
        "processes": processes,
        "fs": fs.names,
        "keys": keys.names,
        "nodes": nodes.names,
        "ops": {"p": p, "f": f, "k": k, "t0": t0, "t1": t1, "o": o, "d": d, "n": nd, "v": v,
                "final": fin, "errors": errors},
        "faults": fault_json,
        "node_events": node_events,
    })
}

/// Writes `report.html` into a stored run's directory (whole or not at all) and returns its path.
pub fn write_for_run(run_dir: &Path) -> Result<PathBuf, String> {
    let run_dir = canonical(run_dir);
    let html = for_run(&run_dir)?;
    let path = run_dir.join("report.html");
    write_atomically(&path, html.as_bytes())?;
    Ok(path)
}

/// `store/latest` names a run by its real directory.
fn canonical(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

/// A stored run's report, from its directory: the history, `config.json`, and the ladder kept in
/// `results.json` (or, for a run that never got that far, a fresh check of the history).
pub fn for_run(run_dir: &Path) -> Result<String, String> {
    let history_path = run_dir.join("history.jsonl");
    if !history_path.is_file() {
        return Err(format!(
            "{} is not a run directory: it has no history.jsonl",
            run_dir.display()
        ));
    }
    let history = checker::import::read_file(&history_path, checker::import::Format::Jsonl)
        .map_err(|e| e.to_string())?;
    let config = RunConfig::read(run_dir)?;
    let results = RunResults::read(run_dir)?;
    run_page(run_dir, &history, config.as_ref(), results.as_ref())
}

/// The page of a run whose history, config and results are at hand — as `faultline run` has
/// them when it finishes, so it does not read them back. Without a ladder in `results` (a run
/// cut short) the history is checked afresh.
pub fn run_page(
    run_dir: &Path,
    history: &History,
    config: Option<&RunConfig>,
    results: Option<&RunResults>,
) -> Result<String, String> {
    // The page names the run by its real directory, however it was reached (`store/latest`).
    let run_dir = &canonical(run_dir);
    if checker::model::transactional(history).is_some() {
        return isolation_run_page(run_dir, history, config, results);
    }
    let flags = config.map(RunConfig::flags).unwrap_or_default();
    if let Some(w) = flags.workload.as_deref().and_then(seed_workload) {
        return workload_run_page(run_dir, history, config, results, w);
    }
    let require: Level = match (results, &flags.require) {
        (Some(r), _) => r.require,
        (None, Some(name)) => name
            .parse()
            .map_err(|e| format!("{}: require: {e}", run_dir.display()))?,
        (None, None) => Level::Linearizable,
    };
    let fresh;
    let ladder = match results.map(|r| &r.ladder) {
        Some(l) if l.is_object() => l,
        _ => {
            let model: checker::ModelKind = flags
                .workload
                .as_deref()
                .unwrap_or("cas-register")
                .parse()
                .map_err(|e| format!("{}: workload: {e}", run_dir.display()))?;
            let ladder = checker::consistency::assess(
                history,
                model,
                &Level::ALL,
                &checker::Options {
                    all_failures: true,
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())?;
            fresh = serde_json::to_value(&ladder).expect("a ladder serializes");
            &fresh
        }
    };
    let context = run_context(run_dir, config, results, require);
    Ok(page(history, ladder, &context))
}

/// The page of a transactional run: the isolation ladder (the history checked afresh: it takes
/// milliseconds, and the report is the same), the level the run required, and the run's facts.
fn isolation_run_page(
    run_dir: &Path,
    history: &History,
    config: Option<&RunConfig>,
    results: Option<&RunResults>,
) -> Result<String, String> {
    let report = checker::txn::check(history)?;
    let flags = config.map(RunConfig::flags).unwrap_or_default();
    let named = results
        .and_then(|r| r.isolation.as_ref())
        .and_then(|i| i["require"].as_str().map(str::to_string))
        .or(flags.require);
    let require = match named {
        Some(n) => n
            .parse()
            .map_err(|e| format!("{}: isolation: {e}", run_dir.display()))?,
        None => checker::txn::Isolation::Serializable,
    };
    let context = run_context(run_dir, config, results, Level::Linearizable);
    Ok(isolation::html(
        history,
        &report,
        require,
        &context.title,
        &context.facts,
        &context.notes,
    ))
}

/// The run's workload, when it is one of the seeds' (bank, set, counter, unique ids).
fn seed_workload(name: &str) -> Option<crate::run::workload::Workload> {
    let w = <crate::run::workload::Workload as clap::ValueEnum>::from_str(name, false).ok()?;
    w.seed().map(|_| w)
}

/// The page of a seed workload's run: its history checked afresh (it takes milliseconds) with
/// what the run knew about the test (its accounts, its total).
fn workload_run_page(
    run_dir: &Path,
    history: &History,
    config: Option<&RunConfig>,
    results: Option<&RunResults>,
    w: crate::run::workload::Workload,
) -> Result<String, String> {
    let options = match config.and_then(|c| c.workload_options.clone()) {
        Some(o) => o,
        None => {
            let prefix = config.map(|c| format!("{}-", c.run_id)).unwrap_or_default();
            crate::run::seeds::Seeds::new(w, &prefix).options()
        }
    };
    let j = w
        .seed()
        .expect("a seed workload")
        .check(history, &options)?;
    let context = run_context(run_dir, config, results, Level::Linearizable);
    Ok(workload::html(
        history,
        &j,
        &context.title,
        &context.facts,
        &context.notes,
    ))
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}

/// The summary facts of a stored run.
fn run_context(
    run_dir: &Path,
    config: Option<&RunConfig>,
    results: Option<&RunResults>,
    require: Level,
) -> Context {
    let flags = config.map(RunConfig::flags).unwrap_or_default();
    let run_name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The store's subdirectory names the test: `--name`, or the target's own name.
    let test = run_dir
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "faultline".into());
    let mut facts = Vec::new();
    let mut fact = |label: &str, value: String| {
        if !value.is_empty() {
            facts.push((label.to_string(), value));
        }
    };
    fact("started", started(&run_name));
    fact("target", target_words(config));
    fact("load", load_words(&flags));
    if let Some(config) = config {
        fact("faults", fault_words(config, &flags, results));
        fact("seed", config.seed.to_string());
        fact("run id", config.run_id.clone());
    }
    if let Some(r) = results {
        for (label, value) in outcome_facts(r) {
            fact(label, value);
        }
    }
    fact("run directory", run_dir.display().to_string());
    let mut notes: Vec<String> = config.map(|c| c.notes.clone()).unwrap_or_default();
    match results {
        Some(r) => notes.extend(r.nemesis_errors.iter().map(|e| format!("nemesis: {e}"))),
        None => notes.push(
            "this run has no results.json (it was cut short); the history was checked afresh"
                .into(),
        ),
    }
    Context {
        title: format!("{test} run {run_name}"),
        require,
        facts,
        notes,
    }
}

/// `10 clients, 500 ops/s, 8 keys, cas-register workload`.
fn load_words(flags: &StoredFlags) -> String {
    let keys = flags.keys.map_or("?".to_string(), |k| k.to_string());
    match (flags.concurrency, flags.rate) {
        (Some(c), Some(r)) if r > 0.0 => format!(
            "{c} clients, {r} ops/s, {keys} keys, {} workload",
            flags.workload.as_deref().unwrap_or("")
        ),
        (Some(c), _) => format!("{c} clients as fast as they go, {keys} keys"),
        _ => String::new(),
    }
}

/// `kill, partition every 5 s via proxy (applied: kill 3, partition 2)`.
fn fault_words(config: &RunConfig, flags: &StoredFlags, results: Option<&RunResults>) -> String {
    if config.faults.is_empty() {
        return "none".into();
    }
    let applied = results.map(|r| fault_counts(&r.faults)).unwrap_or_default();
    format!(
        "{} every {} s via {} (applied: {})",
        config.faults.join(", "),
        flags
            .nemesis_interval
            .map_or("?".to_string(), |s| s.to_string()),
        flags.net.as_deref().unwrap_or("?"),
        if applied.is_empty() { "none" } else { &applied }
    )
}

/// Duration, operations, latency and an interruption, from a run's results.
fn outcome_facts(r: &RunResults) -> Vec<(&'static str, String)> {
    let main = &r.main_phase;
    let mut facts = vec![
        (
            "duration",
            format!("{:.1} s of load and faults", r.main_phase_s),
        ),
        (
            "operations",
            format!(
                "{} ({:.0}/s): ok {}, fail {}, info {}; {} final reads",
                main.ops, main.throughput, main.ok, main.fail, main.info, r.final_reads
            ),
        ),
    ];
    if let (Some(a), Some(b)) = (main.latency_ms.p50, main.latency_ms.p99) {
        facts.push((
            "latency",
            format!("p50 {a:.1} ms, p99 {b:.1} ms (ok operations)"),
        ));
    }
    if r.interrupted {
        facts.push(("interrupted", "yes: the history is partial".into()));
    }
    facts
}

/// The target in words, from a run's config: `raftkv, 3 nodes (read mode stale, write ack quorum)`.
pub fn target_words(config: Option<&RunConfig>) -> String {
    let Some(config) = config else {
        return String::new();
    };
    // raftkv's own words carry its modes; other targets describe themselves.
    if config.target.kind != "raftkv" {
        return config.target.description.clone();
    }
    let flags = config.flags();
    match flags.nodes {
        Some(n) => {
            let mut s = format!(
                "raftkv, {n} nodes (read mode {}, write ack {}",
                flags.read_mode.as_deref().unwrap_or("consistent"),
                flags.write_ack.as_deref().unwrap_or("quorum")
            );
            if let Some(k) = &flags.unsafe_knobs {
                let _ = write!(s, ", unsafe {k}");
            }
            s.push(')');
            s
        }
        None => String::new(),
    }
}

/// `2026-11-22 16:01:52 UTC` from a run directory named `20261122T160152Z` (or `…Z-2`).
pub fn started(run_name: &str) -> String {
    let b = run_name.as_bytes();
    if b.len() < 16 || b[8] != b'T' || b[15] != b'Z' || !run_name.is_char_boundary(16) {
        return String::new();
    }
    let digits = |r: std::ops::Range<usize>| &run_name[r];
    format!(
        "{}-{}-{} {}:{}:{} UTC",
        digits(0..4),
        digits(4..6),
        digits(6..8),
        digits(9..11),
        digits(11..13),
        digits(13..15)
    )
}

#[cfg(test)]
mod tests;
