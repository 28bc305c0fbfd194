//! Processes on another machine, through a shell there: what a node's start, kill, pause and
//! state need, written once as shell commands over [`HostShell::run`]. faultline's SSH
//! connection (the harness's `hosts` module) is one such shell; nothing here knows of SSH.
//!
//! A process started here runs in a session of its own (`setsid`), so its pid is its process
//! group's id and a kill reaches whatever its command forked.

use std::time::{Duration, Instant};

/// A shell on a host.
pub trait HostShell: Send + Sync {
    /// The host's name, for messages.
    fn name(&self) -> &str;
    /// Runs `command` (sh syntax) and returns its output when it exits 0; otherwise one error
    /// naming the host, the command and what it said.
    fn run(&self, command: &str) -> Result<String, String>;
    /// Runs `command` and returns its standard output as bytes (an archive, say).
    fn fetch(&self, command: &str) -> Result<Vec<u8>, String>;
}

/// A shell word, quoted.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Starts `command` under `sh -c` in a session of its own, in `dir` (made if missing), with
/// `env`, its output appended to `log`; its pid.
pub fn spawn(
    host: &dyn HostShell,
    command: &str,
    env: &[(String, String)],
    dir: &str,
    log: &str,
) -> Result<u32, String> {
    let env: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    let line = format!(
        "mkdir -p {d} && cd {d} || exit 1; {} setsid sh -c {} >> {} 2>&1 < /dev/null & echo $!",
        env.join(" "),
        quote(command),
        quote(log),
        d = quote(dir),
    );
    let out = host.run(&line)?;
    out.trim()
        .parse()
        .map_err(|_| format!("{}: no pid from `{command}`: {out:?}", host.name()))
}

/// The state letter of process `pid` (`R`, `S`, `T`, …); none when it is gone or a zombie.
pub fn state(host: &dyn HostShell, pid: u32) -> Result<Option<char>, String> {
    let out = host.run(&format!("cat /proc/{pid}/stat 2>/dev/null || true"))?;
    Ok(out
        .rsplit_once(") ")
        .and_then(|(_, after)| after.chars().next())
        .filter(|&c| c != 'Z' && c != 'X'))
}

/// SIGKILLs process `pid` and its group, and waits (3 s at most, on the host) until it is gone.
pub fn kill(host: &dyn HostShell, pid: u32) -> Result<(), String> {
    host.run(&format!(
        "kill -9 -- -{pid} 2>/dev/null; kill -9 {pid} 2>/dev/null; for _ in $(seq 300); do \
         s=$(cut -d')' -f2 /proc/{pid}/stat 2>/dev/null | cut -c2); \
         if [ -z \"$s\" ] || [ \"$s\" = Z ]; then exit 0; fi; sleep 0.01; done; exit 1"
    ))
    .map(|_| ())
}

/// SIGSTOP (`stop`) or SIGCONT process `pid`, confirmed by its state read back.
pub fn stop_or_continue(host: &dyn HostShell, pid: u32, stop: bool) -> Result<(), String> {
    let sig = if stop { "STOP" } else { "CONT" };
    host.run(&format!("kill -{sig} {pid}"))?;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if (state(host, pid)? == Some('T')) == stop {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!(
        "{}: pid {pid}: SIG{sig} not confirmed within 2 s",
        host.name()
    ))
}

/// When process `pid` started, in real ms since the epoch by the host's clock (to the kernel's
/// tick), from its `/proc`.
pub fn start_ms(host: &dyn HostShell, pid: u32) -> Option<f64> {
    let out = host
        .run(&format!(
            "echo $(sed 's/.*) //' /proc/{pid}/stat | cut -d' ' -f20) \
             $(cut -d' ' -f1 /proc/uptime) $(getconf CLK_TCK) $(date +%s%N)"
        ))
        .ok()?;
    let v: Vec<f64> = out
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [ticks, uptime_s, hz, now_ns] = v[..] else {
        return None;
    };
    (hz > 0.0).then(|| now_ns / 1e6 - (uptime_s - ticks / hz).max(0.0) * 1000.0)
}

/// Copies `name` under `dir` on the host (a data directory) into `local_dir`, through tar.
pub fn fetch_tree(
    host: &dyn HostShell,
    dir: &str,
    name: &str,
    local_dir: &std::path::Path,
) -> Result<(), String> {
    let archive = host.fetch(&format!(
        "if [ -e {d}/{n} ]; then tar -C {d} -cf - {n}; fi",
        d = quote(dir),
        n = quote(name)
    ))?;
    if archive.is_empty() {
        return Ok(());
    }
    let mut tar = std::process::Command::new("tar")
        .arg("-xf")
        .arg("-")
        .arg("-C")
        .arg(local_dir)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("tar: {e}"))?;
    std::io::Write::write_all(&mut tar.stdin.take().expect("piped"), &archive)
        .map_err(|e| format!("tar: {e}"))?;
    let out = tar.wait_with_output().map_err(|e| format!("tar: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tar -x into {}: {}",
            local_dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// The first of `paths` that exists on the host.
pub fn first_existing(host: &dyn HostShell, paths: &[&str]) -> Result<Option<String>, String> {
    let list: Vec<String> = paths.iter().map(|p| quote(p)).collect();
    let out = host.run(&format!(
        "for f in {}; do if [ -e \"$f\" ]; then echo \"$f\"; break; fi; done",
        list.join(" ")
    ))?;
    Ok(Some(out.trim().to_string()).filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's `sh`, as a host.
    struct Here;

    impl HostShell for Here {
        fn name(&self) -> &str {
            "here"
        }
        fn run(&self, command: &str) -> Result<String, String> {
            self.fetch(command)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        }
        fn fetch(&self, command: &str) -> Result<Vec<u8>, String> {
            let out = std::process::Command::new("sh")
                .args(["-c", command])
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(out.stdout)
            } else {
                Err(format!("`{command}`: {}", out.status))
            }
        }
    }

    #[test]
    fn a_process_is_started_paused_resumed_and_killed_through_a_shell() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("n1");
        let dir = dir.to_str().unwrap();
        let log = format!("{dir}.log");
        let env = [("GREETING".to_string(), "it's here".to_string())];
        let pid = spawn(&Here, "echo \"$GREETING\"; exec sleep 30", &env, dir, &log).unwrap();
        assert!(state(&Here, pid).unwrap().is_some());
        let started = start_ms(&Here, pid).expect("a start time");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            * 1000.0;
        assert!((started - now).abs() < 5_000.0, "{started} vs {now}");
        stop_or_continue(&Here, pid, true).unwrap();
        assert_eq!(state(&Here, pid).unwrap(), Some('T'));
        stop_or_continue(&Here, pid, false).unwrap();
        kill(&Here, pid).unwrap();
        // The shell that started it reaps it (it is not this process's child).
        let deadline = Instant::now() + Duration::from_secs(3);
        while state(&Here, pid).unwrap().is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(state(&Here, pid).unwrap(), None);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "it's here\n");
        std::fs::write(format!("{dir}/data"), "kept").unwrap();
        let back = tmp.path().join("back");
        std::fs::create_dir(&back).unwrap();
        let parent = tmp.path().to_str().unwrap();
        fetch_tree(&Here, parent, "n1", &back).unwrap();
        assert_eq!(
            std::fs::read_to_string(back.join("n1/data")).unwrap(),
            "kept"
        );
        fetch_tree(&Here, parent, "absent", &back).unwrap();
        let found = first_existing(&Here, &["/nonexistent", dir]).unwrap();
        assert_eq!(found.as_deref(), Some(dir));
        assert_eq!(first_existing(&Here, &["/nonexistent"]).unwrap(), None);
    }
}
