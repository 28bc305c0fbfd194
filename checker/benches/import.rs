//! Import benchmark: how fast Jepsen EDN is read, and how much memory a large history takes.
//! Prints figures, asserts nothing about time.
//!
//! `cargo bench -p faultline-checker --bench import` reads a generated 100 MB `history.edn`
//! (`-- --quick`: 4 MB; under `cargo test --all-targets` it runs once in quick mode, as a smoke
//! test). The file is written by a streaming generator — independent keys, 16 processes, reads,
//! writes and cas, nemesis events — into the temp directory and removed afterwards. Figures:
//! - the EDN reader alone (forms only), MB/s;
//! - `import::read_file` (reader, events, pairing, tuple splitting), MB/s;
//! - peak RSS while importing, against the file's size.

// The allocator the faultline binary uses, so the figures are the command's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use checker::import::{self, edn, Format};
use common::{peak_rss_kib, reset_peak};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

/// The generated file, removed when dropped (also when the benchmark panics).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes a Jepsen-shaped independent register history of about `bytes` bytes; returns the
/// number of events. Operations of a process never overlap, and each one completes before the
/// process's next, so the history is well formed.
fn write_history(path: &PathBuf, bytes: u64) -> u64 {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut written, mut index, mut time) = (0u64, 0u64, 0u64);
    let mut line = String::new();
    let mut value = vec![0u64; 1000];
    while written < bytes {
        let p = index % 16;
        let key = (index / 7) % 1000;
        time += 1_000 + (index * 7919) % 50_000;
        line.clear();
        if index % 5000 == 4999 {
            line.push_str(&format!(
                "{{:type :info, :f :start, :value [:isolated {{\"n1\" #{{\"n2\" \"n3\"}}}}], :time {time}, :process :nemesis, :index {index}}}\n"
            ));
        } else {
            let v = &mut value[key as usize];
            let (f, inv, done) = match index % 3 {
                0 => ("read", format!("[{key} nil]"), format!("[{key} {v}]")),
                1 => {
                    *v += 1;
                    ("write", format!("[{key} {v}]"), format!("[{key} {v}]"))
                }
                _ => (
                    "cas",
                    format!("[{key} [{v} {}]]", *v + 1),
                    format!("[{key} [{v} {}]]", *v + 1),
                ),
            };
            if f == "cas" {
                *v += 1;
            }
            line.push_str(&format!(
                "{{:type :invoke, :f :{f}, :value {inv}, :time {time}, :process {p}, :index {index}}}\n"
            ));
            index += 1;
            line.push_str(&format!(
                "{{:type :ok, :f :{f}, :value {done}, :time {}, :process {p}, :index {index}}}\n",
                time + 500
            ));
        }
        index += 1;
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
    }
    out.flush().unwrap();
    index
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `--write-jsonl FILE`: write the 1,000,000-operation JSON Lines history and stop, to time
    // `faultline check FILE` on it.
    if let Some(i) = args.iter().position(|a| a == "--write-jsonl") {
        let events = checker::generate::events(&jsonl_spec(false));
        std::fs::write(&args[i + 1], checker::generate::to_jsonl(&events)).unwrap();
        return;
    }
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let bytes: u64 = if quick { 4 << 20 } else { 100 << 20 };
    let file = TempFile(
        std::env::temp_dir().join(format!("faultline-import-bench-{}.edn", std::process::id())),
    );
    let events = write_history(&file.0, bytes);
    let size = std::fs::metadata(&file.0).unwrap().len();
    let mb = size as f64 / 1e6;
    println!("history.edn: {mb:.1} MB, {events} events");

    let start = Instant::now();
    let mut reader = edn::Reader::new(std::io::BufReader::new(
        std::fs::File::open(&file.0).unwrap(),
    ));
    let mut forms = 0u64;
    while reader.next_form().unwrap().is_some() {
        forms += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(forms, events, "every form read");
    println!(
        "EDN reader alone:        {:7.1} MB/s ({secs:.2} s)",
        mb / secs
    );

    reset_peak();
    let before = peak_rss_kib();
    let start = Instant::now();
    let history = import::read_file(&file.0, Format::Auto).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let after = peak_rss_kib();
    assert_eq!(history.event_count() as u64, events);
    println!(
        "import::read_file:       {:7.1} MB/s ({secs:.2} s, {} operations, {} keys)",
        mb / secs,
        history.ops.len(),
        history.by_key().len()
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "peak RSS while importing: {:.0} MiB ({:.1}× the file; {:.0} MiB before)",
            a as f64 / 1024.0,
            a as f64 * 1024.0 / size as f64,
            b as f64 / 1024.0
        );
    }
    drop(history);
    jsonl(quick);
}

/// faultline's own JSON Lines: a generated history of 1,000,000 operations (10,000 with
/// `--quick`) on 1,000 keys, written to a file and read back.
fn jsonl_spec(quick: bool) -> checker::generate::Spec {
    checker::generate::Spec {
        ops: if quick { 10_000 } else { 1_000_000 },
        keys: 1000,
        processes: 64,
        ..Default::default()
    }
}

fn jsonl(quick: bool) {
    let spec = jsonl_spec(quick);
    let file = TempFile(std::env::temp_dir().join(format!(
        "faultline-import-bench-{}.jsonl",
        std::process::id()
    )));
    let events = checker::generate::events(&spec);
    std::fs::write(&file.0, checker::generate::to_jsonl(&events)).unwrap();
    drop(events);
    let mb = std::fs::metadata(&file.0).unwrap().len() as f64 / 1e6;
    reset_peak();
    let start = Instant::now();
    let history = import::read_file(&file.0, Format::Auto).unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "history.jsonl: {mb:.1} MB, {} operations: {:.1} MB/s ({secs:.2} s)",
        history.ops.len(),
        mb / secs,
    );
}
