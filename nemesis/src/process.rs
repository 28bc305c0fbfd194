//! Process faults, through signals and `/proc`: SIGSTOP and SIGCONT for pauses (a pause counts as
//! applied only once the kernel reports the process stopped), SIGKILL for crashes, and process
//! identities (pid plus start time) that survive in a state file without naming a stranger that
//! reused the pid.

use std::time::{Duration, Instant};

use base::proc::stat;
pub use base::proc::{parent, start_ticks, state};

/// Whether `pid` is the process that started at `start` and has not exited.
pub fn is_alive(pid: u32, start: u64) -> bool {
    matches!(stat(pid), Some((s, _, t)) if t == start && s != 'Z' && s != 'X')
}

/// Whether the process is stopped by a signal.
pub fn is_stopped(pid: u32) -> bool {
    matches!(state(pid), Some('T'))
}

pub use nix::sys::signal::Signal;

pub fn signal(pid: u32, sig: Signal) -> std::io::Result<()> {
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    nix::sys::signal::kill(pid, sig).map_err(std::io::Error::from)
}

/// `sig` to the process, then to each of its descendants (one that exited meanwhile is no
/// error).
fn signal_tree(pid: u32, sig: Signal) -> std::io::Result<()> {
    signal(pid, sig)?;
    for child in base::proc::descendants(pid) {
        let _ = signal(child, sig);
    }
    Ok(())
}

/// Waits up to `timeout` for `done`.
fn wait_until(timeout: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SIGSTOP, then wait until the kernel shows the process stopped.
///
/// The process is stopped with every process it started ([`base::proc::descendants`], the
/// parent first so that it forks no more): a server with a process per connection
/// (PostgreSQL) would go on answering through its children if only the parent stopped.
pub fn pause(pid: u32) -> std::io::Result<()> {
    signal_tree(pid, Signal::SIGSTOP)?;
    if wait_until(Duration::from_secs(2), || is_stopped(pid)) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "process {pid} did not stop within 2 s of SIGSTOP"
        )))
    }
}

/// SIGCONT, then wait until the process is no longer stopped.
pub fn resume(pid: u32) -> std::io::Result<()> {
    signal_tree(pid, Signal::SIGCONT)?;
    if wait_until(Duration::from_secs(2), || !is_stopped(pid)) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "process {pid} still stopped 2 s after SIGCONT"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_and_resume_a_real_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        let pid = child.id();
        let start = start_ticks(pid).expect("in /proc");
        assert!(is_alive(pid, start));
        assert_eq!(parent(pid), Some(std::process::id()));
        assert!(
            !is_alive(pid, start + 1),
            "another start time is another process"
        );
        pause(pid).unwrap();
        assert!(is_stopped(pid));
        resume(pid).unwrap();
        assert!(!is_stopped(pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!is_alive(pid, start));
    }

    #[test]
    fn a_process_is_paused_with_its_children() {
        use std::os::unix::process::CommandExt;
        // A shell in a group of its own, with a child that is not the shell itself.
        let mut leader = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .expect("sh runs");
        let pid = leader.id();
        let child = (0..100)
            .find_map(|_| {
                std::thread::sleep(Duration::from_millis(20));
                std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
                    let p: u32 = e.file_name().to_str()?.parse().ok()?;
                    (parent(p) == Some(pid)).then_some(p)
                })
            })
            .expect("the shell starts sleep");
        pause(pid).unwrap();
        assert!(
            wait_until(Duration::from_secs(2), || is_stopped(child)),
            "the child stopped too"
        );
        resume(pid).unwrap();
        assert!(wait_until(Duration::from_secs(2), || !is_stopped(child)));
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
        leader.wait().unwrap();
    }
}
