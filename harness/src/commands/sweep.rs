//! `faultline sweep`: detection power as a number. Each configuration (a set of `run` flags) is
//! run with seeds 1…N, one cluster at a time by default, and the sweep says how often each
//! found a violation, which anomalies, how soon, and whether a configuration expected to be
//! safe ever raised a false alarm. It prints a table, and writes `sweep.json` and an
//! `index.html` linking every run's report, in `--out` (default `STORE/sweep`).
//!
//! Every run is `faultline run` in a process of its own (this program, with `--seed`,
//! `--store`, `--json`): a run that crashes or is interrupted costs only itself, and each run's
//! store is the same as if it had been typed by hand. Finished runs are appended to
//! `runs.jsonl` as they end, so the same command after Ctrl-C goes on where it stopped.
//!
//! A configuration is expected to be safe unless its flags choose an unsafe mode (`--read-mode
//! stale|lease`, `--write-ack leader`, `--unsafe …`, `--etcd-read serializable`); a TOML file
//! of configurations can say so itself (`expect = "safe"` or `"violation"`).

use crate::run::results::RunResults;
use crate::run::RunArgs;
use crate::EXIT_BAD_INPUT;
use clap::{Args, Parser};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Configurations: quoted `run` flags (`"--read-mode stale --nemesis partition"`), or TOML
    /// files listing `[[config]]` tables with `flags`, and optionally `name` and `expect`.
    #[arg(required = true, value_name = "CONFIG", allow_hyphen_values = true)]
    pub configs: Vec<String>,
    /// Seeds per configuration (1…N).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub seeds: u64,
    /// Seconds of each run's main phase (a configuration's own --time-limit wins).
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub time_limit: f64,
    /// Runs at once. Keep 1 on a small machine: runs share its cores, and the faults' timing
    /// with them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub parallel: u64,
    /// The store the runs are kept in.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Where the sweep's table, runs.jsonl and index.html go (default STORE/sweep).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One configuration.
#[derive(Clone, Debug, Serialize)]
struct Config {
    name: String,
    flags: Vec<String>,
    /// True when no violation is expected.
    safe: bool,
}

/// A configuration as a TOML file lists it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    name: Option<String>,
    flags: String,
    #[serde(default)]
    expect: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    config: Vec<FileConfig>,
}

/// One finished run, as `runs.jsonl` keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Done {
    config: String,
    seed: u64,
    exit: i32,
    verdict: String,
    anomalies: Vec<String>,
    /// Seconds from the start of the history until the first anomaly's last operation ended.
    first_anomaly_s: Option<f64>,
    run_dir: Option<String>,
}

/// Flags the sweep sets itself.
const OWN_FLAGS: [&str; 4] = ["--seed", "--store", "--json", "--name"];

/// Only to check a configuration's flags as `run` would.
#[derive(Parser)]
struct RunFlags {
    #[command(flatten)]
    _args: RunArgs,
}

pub fn run(args: SweepArgs) -> u8 {
    let configs = match configurations(&args.configs) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let out = args.out.clone().unwrap_or_else(|| args.store.join("sweep"));
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        return EXIT_BAD_INPUT;
    }
    crate::signals::install();
    let log = out.join("runs.jsonl");
    let mut done = read_done(&log);
    let todo: Vec<(usize, u64)> = configs
        .iter()
        .enumerate()
        .flat_map(|(i, _)| (1..=args.seeds).map(move |s| (i, s)))
        .filter(|(i, s)| {
            !done
                .iter()
                .any(|d| d.config == configs[*i].name && d.seed == *s)
        })
        .collect();
    eprintln!(
        "faultline sweep: {} configurations × {} seeds, {} s each; {} runs to go{} (in {})",
        configs.len(),
        args.seeds,
        args.time_limit,
        todo.len(),
        if done.is_empty() {
            String::new()
        } else {
            format!(", {} already done", done.len())
        },
        out.display()
    );
    let finished = run_all(&args, &configs, &todo, &log);
    done.extend(finished);
    let interrupted = crate::signals::interrupted();
    let table = summarize(&configs, &done, args.seeds);
    print_table(&table);
    let summary = json!({"seeds": args.seeds, "time_limit": args.time_limit, "configurations": table, "runs": done});
    let _ = std::fs::write(
        out.join("sweep.json"),
        serde_json::to_vec_pretty(&summary).expect("serializes"),
    );
    let _ = std::fs::write(
        out.join("index.html"),
        page(&table, &done, &args.store, &out),
    );
    if interrupted {
        eprintln!("faultline sweep: interrupted; the same command goes on where it stopped");
        return crate::run::EXIT_INTERRUPTED;
    }
    exit_code(&table)
}

/// The configurations the arguments name, their flags checked as `run` would check them.
fn configurations(args: &[String]) -> Result<Vec<Config>, String> {
    let mut configs = Vec::new();
    for a in args {
        let own = ["--seeds", "--time-limit", "--parallel", "--store", "--out"];
        if own.contains(&a.split('=').next().unwrap_or_default()) {
            return Err(format!(
                "{a} after a configuration: the sweep's own options go before the configurations"
            ));
        }
        if a.ends_with(".toml") {
            let text = std::fs::read_to_string(a).map_err(|e| format!("{a}: {e}"))?;
            let file: ConfigFile =
                toml::from_str(&text).map_err(|e| format!("{a}: {}", e.to_string().trim_end()))?;
            for (i, c) in file.config.into_iter().enumerate() {
                let flags = split(&c.flags);
                let safe = match c.expect.as_deref() {
                    None => expected_safe(&flags),
                    Some("safe") => true,
                    Some("violation") => false,
                    Some(other) => {
                        return Err(format!(
                            "{a}: config[{i}].expect: {other:?} is not \"safe\" or \"violation\""
                        ))
                    }
                };
                let name = c.name.unwrap_or_else(|| flags.join(" "));
                configs.push(Config { name, flags, safe });
            }
        } else {
            let flags = split(a);
            configs.push(Config {
                name: flags.join(" "),
                safe: expected_safe(&flags),
                flags,
            });
        }
    }
    let mut names = BTreeSet::new();
    for c in &configs {
        check_flags(c)?;
        if !names.insert(c.name.clone()) {
            return Err(format!("configuration {:?} is listed twice", c.name));
        }
    }
    Ok(configs)
}

fn split(flags: &str) -> Vec<String> {
    flags.split_whitespace().map(str::to_string).collect()
}

fn check_flags(c: &Config) -> Result<(), String> {
    if let Some(f) = c
        .flags
        .iter()
        .find(|f| OWN_FLAGS.contains(&f.split('=').next().unwrap_or("")))
    {
        return Err(format!(
            "configuration {:?}: {f} is set by the sweep itself",
            c.name
        ));
    }
    let argv = std::iter::once("faultline".to_string()).chain(c.flags.iter().cloned());
    RunFlags::try_parse_from(argv).map(|_| ()).map_err(|e| {
        let text = e.to_string();
        let first = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        format!("configuration {:?}: {first}", c.name)
    })
}

/// Whether `flags` leave every safety knob safe.
fn expected_safe(flags: &[String]) -> bool {
    let joined = format!(" {} ", flags.join(" "));
    ![
        "--read-mode stale",
        "--read-mode lease",
        "--read-mode=stale",
        "--read-mode=lease",
        "--write-ack leader",
        "--write-ack=leader",
        "--unsafe",
        "--etcd-read serializable",
        "--etcd-read=serializable",
    ]
    .iter()
    .any(|k| joined.contains(&format!(" {k}")))
}

fn read_done(log: &Path) -> Vec<Done> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Runs `todo` (configuration index, seed) with up to `parallel` at once, appending each to
/// `log` as it ends; stops starting runs once interrupted.
fn run_all(args: &SweepArgs, configs: &[Config], todo: &[(usize, u64)], log: &Path) -> Vec<Done> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..args.parallel {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&(c, seed)) = todo.get(i) else {
                    return;
                };
                if crate::signals::interrupted() {
                    return;
                }
                let d = one_run(args, &configs[c], seed);
                if crate::signals::interrupted()
                    && d.exit == i32::from(crate::run::EXIT_INTERRUPTED)
                {
                    return;
                }
                eprintln!(
                    "  {} seed {seed}: {}{}",
                    d.config,
                    d.verdict,
                    if d.anomalies.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", d.anomalies.join(", "))
                    }
                );
                let line = serde_json::to_string(&d).expect("serializes");
                let mut all = results.lock().expect("results lock");
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                {
                    let _ = writeln!(f, "{line}");
                }
                all.push(d);
            });
        }
    });
    results.into_inner().expect("results lock")
}

/// One `faultline run` of `config` with `seed`.
fn one_run(args: &SweepArgs, config: &Config, seed: u64) -> Done {
    let slug: String = config
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let mut cmd = Command::new(std::env::current_exe().unwrap_or_else(|_| "faultline".into()));
    cmd.arg("run");
    if !config.flags.iter().any(|f| f.starts_with("--time-limit")) {
        cmd.args(["--time-limit", &args.time_limit.to_string()]);
    }
    cmd.args(&config.flags)
        .args(["--seed", &seed.to_string(), "--json", "--name"])
        .arg(format!("sweep-{}", &slug[..slug.len().min(80)]))
        .arg("--store")
        .arg(&args.store);
    let (exit, results) = match cmd.output() {
        Ok(o) => (
            o.status.code().unwrap_or(-1),
            serde_json::from_slice::<RunResults>(&o.stdout).map_err(|_| {
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("no result")
                    .to_string()
            }),
        ),
        Err(e) => (-1, Err(e.to_string())),
    };
    match results {
        Ok(r) => Done {
            config: config.name.clone(),
            seed,
            exit,
            verdict: r.verdict.words().to_string(),
            anomalies: r.anomaly_kinds().into_iter().collect(),
            first_anomaly_s: r.first_anomaly_s(),
            run_dir: Some(r.run_dir),
        },
        Err(e) => Done {
            config: config.name.clone(),
            seed,
            exit,
            verdict: format!("error: {e}"),
            anomalies: Vec::new(),
            first_anomaly_s: None,
            run_dir: None,
        },
    }
}

/// One configuration's row.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    safe: bool,
    runs: usize,
    violated: usize,
    unknown: usize,
    errors: usize,
    anomalies: Vec<String>,
    median_first_anomaly_s: Option<f64>,
}

fn summarize(configs: &[Config], done: &[Done], seeds: u64) -> Vec<Row> {
    configs
        .iter()
        .map(|c| {
            let runs: Vec<&Done> = done
                .iter()
                .filter(|d| d.config == c.name && d.seed <= seeds)
                .collect();
            let count = |v: &str| runs.iter().filter(|d| d.verdict == v).count();
            let mut firsts: Vec<f64> = runs
                .iter()
                .filter(|d| d.verdict == "violated")
                .filter_map(|d| d.first_anomaly_s)
                .collect();
            firsts.sort_by(f64::total_cmp);
            let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
            for d in &runs {
                for a in &d.anomalies {
                    *kinds.entry(a.clone()).or_default() += 1;
                }
            }
            Row {
                name: c.name.clone(),
                safe: c.safe,
                runs: runs.len(),
                violated: count("violated"),
                unknown: count("unknown"),
                errors: runs
                    .iter()
                    .filter(|d| d.verdict.starts_with("error"))
                    .count(),
                anomalies: kinds
                    .into_iter()
                    .map(|(k, n)| format!("{k} ×{n}"))
                    .collect(),
                median_first_anomaly_s: (!firsts.is_empty()).then(|| firsts[firsts.len() / 2]),
            }
        })
        .collect()
}

/// What a row says, in words: `caught 3/3`, `0 false alarms`.
fn judgement(r: &Row) -> String {
    match (r.safe, r.violated) {
        (true, 0) => format!("✓ no false alarm in {}", r.runs),
        (true, v) => format!("✗ {v} false alarm{}", if v == 1 { "" } else { "s" }),
        (false, v) => format!("{} caught {v}/{}", if v > 0 { "✓" } else { "✗" }, r.runs),
    }
}

fn print_table(rows: &[Row]) {
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(13)
        .max(13);
    println!(
        "{:width$}  {:>4}  {:>8}  {:>7}  {:>13}  result / anomalies",
        "configuration", "runs", "violated", "unknown", "first anomaly"
    );
    for r in rows {
        let first = r
            .median_first_anomaly_s
            .map_or("—".to_string(), |s| format!("{s:.1} s"));
        let kinds = if r.anomalies.is_empty() {
            String::new()
        } else {
            format!("  {}", r.anomalies.join(", "))
        };
        println!(
            "{:width$}  {:>4}  {:>8}  {:>7}  {:>13}  {}{kinds}",
            r.name,
            r.runs,
            r.violated,
            r.unknown,
            first,
            judgement(r)
        );
    }
}

/// 1 when a configuration expected to be safe raised a false alarm; 2 when one expected to be
/// broken was never caught (or a run failed to run); 0 otherwise.
fn exit_code(rows: &[Row]) -> u8 {
    if rows.iter().any(|r| r.safe && r.violated > 0) {
        1
    } else if rows
        .iter()
        .any(|r| (!r.safe && r.violated == 0) || r.errors > 0)
    {
        2
    } else {
        0
    }
}

/// The sweep as a page: the table, then every run linked to its report.
fn page(rows: &[Row], done: &[Done], store: &Path, out: &Path) -> String {
    use crate::report::esc;
    let mut html = String::from("<!doctype html><meta charset=utf-8><title>faultline sweep</title><style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}</style><h1>faultline sweep</h1><table><tr><th>configuration<th>runs<th>violated<th>unknown<th>first anomaly (median)<th>result<th>anomalies");
    for r in rows {
        html += &format!(
            "<tr><td><code>{}</code><td>{}<td>{}<td>{}<td>{}<td>{}<td>{}",
            esc(&r.name),
            r.runs,
            r.violated,
            r.unknown,
            r.median_first_anomaly_s
                .map_or("—".into(), |s| format!("{s:.1} s")),
            esc(&judgement(r)),
            esc(&r.anomalies.join(", "))
        );
    }
    html += "</table><h2>Runs</h2><table><tr><th>configuration<th>seed<th>verdict<th>anomalies<th>report";
    let store = store.canonicalize().unwrap_or_else(|_| store.to_path_buf());
    let out = out.canonicalize().unwrap_or_else(|_| out.to_path_buf());
    for d in done {
        let link = d.run_dir.as_deref().map(|dir| {
            let report = Path::new(dir).join("report.html");
            // Runs live in the store; the page usually does too.
            match (report.strip_prefix(&store), out.strip_prefix(&store)) {
                (Ok(rel), Ok(here)) => {
                    let up = "../".repeat(here.components().count());
                    format!("{up}{}", rel.display())
                }
                _ => format!("file://{}", report.display()),
            }
        });
        html += &format!(
            "<tr><td><code>{}</code><td>{}<td>{}<td>{}<td>{}",
            esc(&d.config),
            d.seed,
            esc(&d.verdict),
            esc(&d.anomalies.join(", ")),
            link.map_or("—".into(), |l| format!(
                "<a href=\"{}\">report</a>",
                esc(&l)
            ))
        );
    }
    html + "</table>"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_flags_are_expected_to_break_and_the_rest_to_hold() {
        assert!(expected_safe(&split("--nemesis partition,kill")));
        assert!(!expected_safe(&split(
            "--read-mode stale --nemesis partition"
        )));
        assert!(!expected_safe(&split("--unsafe no-fsync --nemesis kill")));
        assert!(!expected_safe(&split("--write-ack=leader")));
        assert!(expected_safe(&split("--read-mode consistent")));
    }

    #[test]
    fn configurations_are_checked_like_run_flags() {
        let e = configurations(&["--nemesis partition --bogus 1".into()]).unwrap_err();
        assert!(e.contains("--bogus"), "{e}");
        let e = configurations(&["--seed 3".into()]).unwrap_err();
        assert!(e.contains("--seed is set by the sweep itself"), "{e}");
        let c = configurations(&["--read-mode lease --nemesis clock".into()]).unwrap();
        assert_eq!(
            (c[0].name.as_str(), c[0].safe),
            ("--read-mode lease --nemesis clock", false)
        );
    }

    #[test]
    fn rows_count_violations_false_alarms_and_the_median_first_anomaly() {
        let configs = vec![
            Config {
                name: "safe".into(),
                flags: vec![],
                safe: true,
            },
            Config {
                name: "stale".into(),
                flags: vec![],
                safe: false,
            },
        ];
        let d = |config: &str, seed, verdict: &str, first| Done {
            config: config.into(),
            seed,
            exit: 0,
            verdict: verdict.into(),
            anomalies: if verdict == "violated" {
                vec!["stale-read".into()]
            } else {
                vec![]
            },
            first_anomaly_s: first,
            run_dir: None,
        };
        let done = [
            d("safe", 1, "holds", None),
            d("safe", 2, "holds", None),
            d("stale", 1, "violated", Some(4.0)),
            d("stale", 2, "holds", None),
            d("stale", 3, "violated", Some(2.0)),
        ];
        let rows = summarize(&configs, &done, 3);
        assert_eq!(judgement(&rows[0]), "✓ no false alarm in 2");
        assert_eq!(judgement(&rows[1]), "✓ caught 2/3");
        assert_eq!(rows[1].median_first_anomaly_s, Some(4.0));
        assert_eq!(rows[1].anomalies, ["stale-read ×2"]);
        assert_eq!(exit_code(&rows), 0);
    }
}
