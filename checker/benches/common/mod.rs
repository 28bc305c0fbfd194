//! What the checker's benchmarks share: where the known-answer data is, and the process's peak
//! resident memory.

// Each bench uses its own part of this.
#![allow(dead_code)]

use std::path::PathBuf;

/// The known-answer histories (`../shared/data/porcupine`, or `FAULTLINE_TESTDATA`).
pub fn data_dir() -> PathBuf {
    std::env::var_os("FAULTLINE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/porcupine")
        })
}

/// The process's peak resident set so far, in KiB (Linux's `VmHWM`).
pub fn peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The same in MiB, NaN where it cannot be read.
pub fn peak_rss_mib() -> f64 {
    peak_rss_kib().map_or(f64::NAN, |k| k as f64 / 1024.0)
}

/// Resets the peak mark to the current resident set (Linux: write 5 to `clear_refs`), so that
/// the next figure is what came after.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
