//! Clock faults through libfaketime (Debian's `libfaketime`): each node runs with
//! `LD_PRELOAD=libfaketimeMT.so.1` and its own control file, which libfaketime re-reads on every
//! clock call, so the harness can change a running node's offset and rate. Only the wall clock is
//! faked (`FAKETIME_DONT_FAKE_MONOTONIC=1`), as when an operator or a broken NTP daemon sets a
//! machine's time: timers built on the monotonic clock keep their pace, and everything that trusts
//! wall-clock time (leases, timestamps) is misled.
//!
//! libfaketime computes a node's time as `S + (t − S)·rate + offset`, where `S` is when the process
//! started. Changing the rate alone would jump the clock, so every change recomputes the offset to
//! keep the clock continuous at the moment of change (bumps excepted, which are jumps by design).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where Debian and a hand-built install put the library; `FAULTLINE_LIBFAKETIME` overrides.
pub const CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
];

/// The libfaketime library, if installed.
pub fn find_libfaketime() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FAULTLINE_LIBFAKETIME") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    CANDIDATES.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Real wall-clock time in milliseconds since the epoch.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// When process `pid` started, in real ms since the epoch (to the kernel's 10 ms tick).
fn process_start_ms(pid: u32) -> Option<f64> {
    let ticks = crate::process::start_ticks(pid)? as f64;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()?? as f64;
    let boot = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    if hz <= 0.0 {
        return None;
    }
    let boot_s = boot.tv_sec() as f64 + boot.tv_nsec() as f64 / 1e9;
    let age_ms = (boot_s - ticks / hz) * 1000.0;
    Some(now_ms() - age_ms.max(0.0))
}

#[derive(Clone, Copy, Debug)]
struct NodeClock {
    offset_ms: f64,
    rate: f64,
    /// When the node's current process started (real ms since the epoch).
    started_ms: f64,
}

impl NodeClock {
    fn at(&self, real_ms: f64) -> f64 {
        self.started_ms + (real_ms - self.started_ms) * self.rate + self.offset_ms
    }
}

/// Writes node `i`'s control file: on this machine, or on the node's host.
pub type WriteControl = Box<dyn Fn(usize, &str) -> std::io::Result<()> + Send + Sync>;

/// Per-node clock control for one run.
pub struct Clocks {
    /// The library and the control file of each node, as the node's machine names them.
    libs: Vec<PathBuf>,
    files: Vec<PathBuf>,
    nodes: Mutex<Vec<NodeClock>>,
    write_control: WriteControl,
}

impl Clocks {
    /// Control files for `n` nodes under `dir`, every clock true.
    pub fn new(lib: &Path, dir: &Path, n: usize) -> std::io::Result<Clocks> {
        std::fs::create_dir_all(dir)?;
        let files: Vec<PathBuf> = (0..n)
            .map(|i| dir.join(format!("n{}.faketime", i + 1)))
            .collect();
        let local = files.clone();
        let write = move |i: usize, text: &str| -> std::io::Result<()> {
            // Rename is atomic: libfaketime never reads a half-written file.
            let tmp = local[i].with_extension("tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &local[i])
        };
        Clocks::elsewhere(vec![lib.to_path_buf(); n], files, Box::new(write))
    }

    /// Clocks whose control files are written by `write_control` (on remote hosts, say):
    /// node `i` preloads `libs[i]` and reads `files[i]`, as its machine names them.
    pub fn elsewhere(
        libs: Vec<PathBuf>,
        files: Vec<PathBuf>,
        write_control: WriteControl,
    ) -> std::io::Result<Clocks> {
        assert_eq!(libs.len(), files.len(), "a library and a file per node");
        let clock = NodeClock {
            offset_ms: 0.0,
            rate: 1.0,
            started_ms: now_ms(),
        };
        let clocks = Clocks {
            nodes: Mutex::new(vec![clock; files.len()]),
            libs,
            files,
            write_control,
        };
        for i in 0..clocks.files.len() {
            clocks.write(i)?;
        }
        Ok(clocks)
    }

    /// The environment node `i` runs with.
    pub fn env(&self, i: usize) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), self.libs[i].display().to_string()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                self.files[i].display().to_string(),
            ),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ]
    }

    fn write(&self, i: usize) -> std::io::Result<()> {
        let c = self.nodes.lock().expect("clock lock")[i];
        let text = if c.rate == 1.0 {
            format!("{:+.3}s\n", c.offset_ms / 1000.0)
        } else {
            format!("{:+.3}s x{}\n", c.offset_ms / 1000.0, c.rate)
        };
        (self.write_control)(i, &text)
    }

    /// Node `i` now runs as process `pid` (just started or restarted). Its clock stays where it
    /// was (a machine's clock does not reset when a program restarts), so the offset absorbs the
    /// new start time, which libfaketime measures rates from. The start is read from `/proc`.
    pub fn started(&self, i: usize, pid: u32) -> std::io::Result<()> {
        self.started_at(i, process_start_ms(pid))
    }

    /// As [`Clocks::started`], for a process that started at `start_ms` (real ms since the
    /// epoch; now when unknown) — one on another machine, whose `/proc` this one cannot read.
    pub fn started_at(&self, i: usize, start_ms: Option<f64>) -> std::io::Result<()> {
        let now = now_ms();
        let start = start_ms.unwrap_or(now);
        {
            let mut nodes = self.nodes.lock().expect("clock lock");
            let c = &mut nodes[i];
            let shown = c.at(now);
            c.started_ms = start;
            // Solve start + (now − start)·rate + offset = shown.
            c.offset_ms = shown - start - (now - start) * c.rate;
        }
        self.write(i)
    }

    /// Moves node `i`'s clock by `delta_ms` at once.
    pub fn bump(&self, i: usize, delta_ms: f64) -> std::io::Result<()> {
        self.nodes.lock().expect("clock lock")[i].offset_ms += delta_ms;
        self.write(i)
    }

    /// Makes node `i`'s clock run at `rate` from now on, without a jump.
    pub fn set_rate(&self, i: usize, rate: f64) -> std::io::Result<()> {
        assert!(rate > 0.0, "a clock runs forwards");
        let now = now_ms();
        {
            let mut nodes = self.nodes.lock().expect("clock lock");
            let c = &mut nodes[i];
            let shown = c.at(now);
            c.rate = rate;
            // Solve S + (now − S)·rate + offset = shown.
            c.offset_ms = shown - c.started_ms - (now - c.started_ms) * rate;
        }
        self.write(i)
    }

    /// Puts node `i`'s clock back to true time at normal speed (a jump, as an NTP step is).
    pub fn reset(&self, i: usize) -> std::io::Result<()> {
        {
            let mut nodes = self.nodes.lock().expect("clock lock");
            nodes[i].rate = 1.0;
            nodes[i].offset_ms = 0.0;
        }
        self.write(i)
    }

    /// What node `i`'s clock should read at real time `real_ms`.
    pub fn expected_ms(&self, i: usize, real_ms: f64) -> f64 {
        self.nodes.lock().expect("clock lock")[i].at(real_ms)
    }

    /// How far node `i`'s clock is ahead of true time now, in ms.
    pub fn skew_ms(&self, i: usize) -> f64 {
        let now = now_ms();
        self.expected_ms(i, now) - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_of(clocks: &Clocks) -> f64 {
        // What a process started now under node 0's settings would read: ask `date`.
        let mut cmd = std::process::Command::new("date");
        cmd.arg("+%s%N").envs(clocks.env(0));
        let out = cmd.output().expect("date runs");
        let ns: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        ns / 1e6
    }

    #[test]
    fn a_bump_moves_a_real_process_clock() {
        let Some(lib) = find_libfaketime() else {
            panic!("libfaketime is not installed: apt-get install libfaketime");
        };
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let clocks = Clocks::new(&lib, &dir, 1).unwrap();
        assert!((clock_of(&clocks) - now_ms()).abs() < 500.0);
        clocks.bump(0, 30_000.0).unwrap();
        let skew = clock_of(&clocks) - now_ms();
        assert!((skew - 30_000.0).abs() < 500.0, "skew {skew}");
        assert!((clocks.skew_ms(0) - 30_000.0).abs() < 1.0);
        clocks.reset(0).unwrap();
        assert!((clock_of(&clocks) - now_ms()).abs() < 500.0);
    }

    #[test]
    fn changing_the_rate_keeps_the_clock_continuous() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let clocks = Clocks::new(Path::new("/nonexistent"), &dir, 1).unwrap();
        clocks.bump(0, 5_000.0).unwrap();
        let before = clocks.skew_ms(0);
        let changed = std::time::Instant::now();
        clocks.set_rate(0, 3.0).unwrap();
        let after = clocks.skew_ms(0);
        // At three times the rate the skew grows by 2 ms every real ms after the change, and a
        // busy machine may take a while between the two readings: no jump beyond that.
        let grown = 2.0 * changed.elapsed().as_secs_f64() * 1000.0;
        let jump = after - before - grown;
        assert!(
            jump.abs() < 50.0,
            "{before} → {after} ({grown:.1} ms of faster time)"
        );
    }
}
