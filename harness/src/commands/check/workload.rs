//! The seeds' other workloads in `faultline check`: a bank, set, counter, lock, unique-ids or
//! queue history (faultline's, or Jepsen's for the same workload) judged by its checker in
//! [`checker::workloads`], printed in words, as JSON and as a JUnit suite.

use super::{bad_input, junit, CheckArgs, Checked, Comparison};
use checker::consistency::Standing;
use checker::history::History;
use checker::import::store;
use checker::workloads::{Judgement, Options, Workload};
use clap::Args;

/// What a workload's history cannot say about the test (Jepsen's checkers read these from the
/// test map; `faultline run` stores them with the run).
#[derive(Args, Debug, Clone, Default)]
pub struct WorkloadArgs {
    /// Judge the history as this workload: bank, set, counter, lock, unique-ids or queue.
    /// Default: what its operations are.
    #[arg(long, value_name = "NAME", value_parser = parse_workload)]
    pub workload: Option<Workload>,
    /// A bank's total (default: the total most reads saw, said in the output).
    #[arg(long, value_name = "N")]
    pub bank_total: Option<i64>,
    /// A bank's accounts, comma-separated (default: those the reads and transfers name).
    #[arg(long, value_name = "A,B,…", value_delimiter = ',')]
    pub accounts: Option<Vec<String>>,
    /// A bank lets accounts be overdrawn (Jepsen's `:negative-balances? true`).
    #[arg(long)]
    pub negative_balances: bool,
    /// A set promises linearizable reads: a stale read is a violation (Jepsen's set-full
    /// `:linearizable? true`).
    #[arg(long)]
    pub set_linearizable: bool,
    /// Locks carry leases (etcd, faultline's /lock): a failed release means the lease ran out.
    #[arg(long)]
    pub leased_locks: bool,
    /// A queue promises first-in first-out delivery: reordering is a violation.
    #[arg(long)]
    pub fifo: bool,
    /// A queue promises at-least-once delivery (RabbitMQ's promise): a message received twice is
    /// reported, not a violation.
    #[arg(long)]
    pub at_least_once: bool,
}

fn parse_workload(s: &str) -> Result<Workload, String> {
    Workload::named(s).ok_or_else(|| {
        let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
        format!(
            "unknown workload {s:?}; expected one of {}",
            names.join(", ")
        )
    })
}

impl WorkloadArgs {
    pub fn options(&self) -> Options {
        Options {
            bank_total: self.bank_total,
            accounts: self.accounts.clone(),
            negative_balances: self.negative_balances,
            set_linearizable: self.set_linearizable,
            leased_locks: self.leased_locks,
            fifo: self.fifo,
            at_least_once: self.at_least_once,
        }
    }
}

/// The workload `history` is to be judged as: the one named, or the one its operations are,
/// when faultline has a checker for it.
/// A flag only one workload takes (`--bank-total`, `--fifo`, …) names it too, for histories
/// whose operations alone do not (a bank of reads only).
pub fn of(history: &History, args: &CheckArgs) -> Option<Workload> {
    let w = &args.workloads;
    let implied = match () {
        _ if w.bank_total.is_some() || w.accounts.is_some() || w.negative_balances => {
            Some(Workload::Bank)
        }
        _ if w.set_linearizable => Some(Workload::Set),
        _ if w.leased_locks => Some(Workload::Lock),
        _ if w.fifo || w.at_least_once => Some(Workload::Queue),
        _ => None,
    };
    w.workload.or_else(|| {
        let other = checker::model::other_workload(history);
        other.and_then(|o| Workload::named(o.name)).or(implied)
    })
}

/// Judges one history as `workload`: exit code, words or JSON, JUnit, and Jepsen's verdict
/// beside it when the run directory has one.
pub fn checked(
    history: &History,
    workload: Workload,
    args: &CheckArgs,
    source: &str,
    results: Option<&std::path::Path>,
) -> Checked {
    let judgement = match workload.check(history, &args.workloads.options()) {
        Ok(j) => j,
        Err(e) => return bad_input(args, source, &e),
    };
    let jepsen = results.map(|r| {
        store::jepsen_verdict(r)
            .map(|v| Comparison::of(v, judgement.standing, workload.name()))
            .map_err(|e| e.to_string())
    });
    let stdout = match args.json {
        true => {
            let mut doc = serde_json::json!({
                "source": source,
                "operations": history.ops.len(),
                "verdict": judgement.standing,
                "judgement": judgement,
            });
            if let Some(Ok(c)) = &jepsen {
                doc["jepsen"] = serde_json::to_value(c).expect("plain data");
            }
            format!("{doc}\n")
        }
        false => text(source, history, &judgement, jepsen.as_ref()),
    };
    Checked {
        code: judgement.standing.exit_code() as u8,
        agree: jepsen.as_ref().and_then(|j| j.as_ref().ok()?.agree),
        suite: junit::workload_suite(source, &judgement),
        stdout,
        stderr: String::new(),
    }
}

/// `file: a bank history, 812 operations` then the verdict, each violation and note.
pub fn text(
    source: &str,
    history: &History,
    j: &Judgement,
    jepsen: Option<&Result<Comparison, String>>,
) -> String {
    let mark = match j.standing {
        Standing::Holds => "✓",
        Standing::Violated => "✗",
        Standing::Unknown => "?",
    };
    let figures: Vec<String> = j.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let mut out = format!(
        "{source}: a {} history, {} operations ({})\n  {mark} {} {}",
        j.workload,
        history.ops.len(),
        figures.join(", "),
        j.workload,
        j.standing.words()
    );
    if let Some(why) = &j.why {
        out += &format!(": {why}");
    }
    out.push('\n');
    for line in j.lines() {
        out += &format!("    {line}\n");
    }
    match jepsen {
        Some(Ok(c)) => out += &format!("  {}\n", c.sentence()),
        Some(Err(e)) => out += &format!("  Jepsen's verdict could not be read: {e}\n"),
        None => {}
    }
    out
}
