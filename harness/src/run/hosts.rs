//! Remote hosts: the `--hosts FILE` format, and commands run on a host through OpenSSH as it is
//! installed (the user's keys and `~/.ssh/config` apply unless the file's options say otherwise),
//! one multiplexed connection per host (ControlMaster), every command with a timeout, and every
//! failure reported with the host and the command.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One `[[hosts]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub name: String,
    pub address: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub identity: Option<PathBuf>,
    #[serde(default)]
    pub ssh_options: Vec<String>,
    /// Where runs put their directory on this host (absolute; default `/tmp`). It must allow
    /// running programs there when faultline's binary is copied (not mounted `noexec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

impl Host {
    /// The directory runs go under on this host.
    pub fn base_dir(&self) -> &str {
        self.dir.as_deref().unwrap_or("/tmp")
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct HostsFile {
    hosts: Vec<Host>,
}

/// `hosts` as a hosts file says them.
pub fn to_toml(hosts: Vec<Host>) -> String {
    toml::to_string(&HostsFile { hosts }).expect("hosts serialize")
}

/// Reads a hosts file; one clear error naming the file and what is wrong.
pub fn load(path: &Path) -> Result<Vec<Host>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--hosts {}: {e}", path.display()))?;
    let file: HostsFile = toml::from_str(&text)
        .map_err(|e| format!("--hosts {}: {}", path.display(), e.to_string().trim_end()))?;
    if file.hosts.is_empty() {
        return Err(format!("--hosts {}: no [[hosts]]", path.display()));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, h) in file.hosts.iter().enumerate() {
        if h.name.is_empty() || h.address.is_empty() {
            return Err(format!(
                "--hosts {}: hosts[{i}] needs a name and an address",
                path.display()
            ));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || "/._-".contains(c);
        if let Some(d) = &h.dir {
            if !d.starts_with('/') || !d.chars().all(plain) || d.split('/').any(|p| p == "..") {
                return Err(format!(
                    "--hosts {}: hosts[{i}].dir {d:?} must be an absolute path of letters, digits and / . _ -",
                    path.display()
                ));
            }
        }
        if !names.insert(&h.name) {
            return Err(format!(
                "--hosts {}: hosts[{i}].name {:?} is used twice",
                path.display(),
                h.name
            ));
        }
    }
    Ok(file.hosts)
}

/// How long a remote command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a copy to or from a host may take (faultline's binary, a data directory).
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// Commands on one host over one multiplexed SSH connection. Commands go to one shell kept
/// open on the host, so that a command costs a round trip, not a session (a session runs the
/// login shell's start-up files, which can take a tenth of a second).
pub struct Ssh {
    pub host: Host,
    control: PathBuf,
    shell: Mutex<Option<Shell>>,
}

/// The shell kept open on a host: its input, and its output line by line.
struct Shell {
    child: Child,
    input: ChildStdin,
    lines: Receiver<String>,
    /// What ssh itself said (why it could not connect, or why the connection ended).
    said: std::sync::Arc<Mutex<String>>,
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What ends a command's output in the kept shell, with its exit status after it.
const DONE: &str = "__faultline_done__";

impl Ssh {
    /// A connection to `host` whose control socket lives in `dir` (short: a socket path has a
    /// limit of about 100 bytes).
    pub fn new(host: Host, dir: &Path) -> Ssh {
        let control = dir.join(format!("ssh-{}", host.name));
        Ssh {
            host,
            control,
            shell: Mutex::new(None),
        }
    }

    fn open_shell(&self) -> Result<Shell, String> {
        let mut child = Command::new("ssh")
            .args(self.args())
            .arg("--")
            .arg("exec sh")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "{}: cannot run ssh: {e} (install openssh-client)",
                    self.host.name
                )
            })?;
        let input = child.stdin.take().expect("piped");
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let said = std::sync::Arc::new(Mutex::new(String::new()));
        let keep = said.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = keep.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(line.trim());
                s.push(' ');
            }
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Shell {
            child,
            input,
            lines,
            said,
        })
    }

    /// Runs `command` in the kept shell (opened on first use, and again after a failure); its
    /// output (stdout and stderr together) when it exits 0.
    pub fn run(&self, command: &str) -> Result<String, String> {
        let what = || format!("{} ({}): `{command}`", self.host.name, self.host.address);
        let mut guard = self.shell.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.open_shell()?);
        }
        let line = format!("( {command}\n) </dev/null 2>&1; printf '\\n{DONE} %d\\n' $?\n");
        let send = |shell: &mut Shell| {
            shell
                .input
                .write_all(line.as_bytes())
                .and_then(|()| shell.input.flush())
        };
        // A shell found closed before anything was written to it (the connection was ended
        // meanwhile) is opened again: the command certainly did not run.
        if send(guard.as_mut().expect("opened")).is_err() {
            *guard = Some(self.open_shell()?);
            if let Err(e) = send(guard.as_mut().expect("opened")) {
                *guard = None;
                return Err(format!("{}: the connection is gone: {e}", what()));
            }
        }
        let shell = guard.as_mut().expect("opened");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let mut out: Vec<String> = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match shell.lines.recv_timeout(left) {
                Ok(l) => match l.strip_prefix(DONE) {
                    Some(status) => {
                        let text = out.join("\n").trim_end().to_string();
                        return match status.trim() {
                            "0" => Ok(text),
                            code => Err(format!("{}: exit status {code}: {text}", what())),
                        };
                    }
                    None => out.push(l),
                },
                Err(RecvTimeoutError::Timeout) => {
                    *guard = None;
                    return Err(format!(
                        "{}: timed out after {} s",
                        what(),
                        COMMAND_TIMEOUT.as_secs()
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // ssh has exited; what it said on the way out tells why.
                    let _ = shell.child.wait();
                    std::thread::sleep(Duration::from_millis(20));
                    let said = shell.said.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    *guard = None;
                    let said = said.trim();
                    return Err(format!(
                        "{}: the connection closed: {}",
                        what(),
                        if said.is_empty() {
                            "ssh said nothing"
                        } else {
                            said
                        }
                    ));
                }
            }
        }
    }

    /// Runs `command` (a list of commands, all of them) with `text` (a short script, no line
    /// `FAULTLINE_EOF`) on its stdin.
    pub fn run_script(&self, command: &str, text: &str) -> Result<String, String> {
        self.run(&format!(
            "{{ {command}\n}} <<'FAULTLINE_EOF'\n{text}\nFAULTLINE_EOF"
        ))
    }

    fn args(&self) -> Vec<String> {
        let mut a = vec![
            "-o".to_string(),
            "BatchMode=yes".into(),
            "-o".into(),
            "ConnectTimeout=5".into(),
            "-o".into(),
            "ControlMaster=auto".into(),
            "-o".into(),
            format!("ControlPath={}", self.control.display()),
            "-o".into(),
            "ControlPersist=300".into(),
            "-o".into(),
            "ServerAliveInterval=5".into(),
        ];
        if let Some(p) = self.host.port {
            a.extend(["-p".into(), p.to_string()]);
        }
        if let Some(i) = &self.host.identity {
            a.extend(["-i".into(), i.display().to_string()]);
        }
        a.extend(self.host.ssh_options.iter().cloned());
        let target = match &self.host.user {
            Some(u) => format!("{u}@{}", self.host.address),
            None => self.host.address.clone(),
        };
        a.push(target);
        a
    }

    /// Runs `command` in a session of its own with `input` (bytes: a binary to copy) on its
    /// stdin; its stdout (bytes: an archive). Input and output stream while it runs, so neither
    /// is limited by a pipe's buffer; it may take [`TRANSFER_TIMEOUT`].
    pub fn run_with(&self, command: &str, input: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let what = || format!("{} ({}): `{command}`", self.host.name, self.host.address);
        let mut child = Command::new("ssh")
            .args(self.args())
            .arg("--")
            .arg(command)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: cannot run ssh: {e} (install openssh-client)", what()))?;
        let feeder = input.map(|bytes| {
            let (mut stdin, bytes) = (child.stdin.take().expect("piped"), bytes.to_vec());
            std::thread::spawn(move || stdin.write_all(&bytes))
        });
        let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(child.stdout.take().map(|o| Box::new(o) as _));
        let err = drain(child.stderr.take().map(|e| Box::new(e) as _));
        let deadline = Instant::now() + TRANSFER_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| format!("{}: {e}", what()))? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{}: timed out after {} s",
                    what(),
                    TRANSFER_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let (out, err) = (
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        );
        if let Some(Ok(Err(e))) = feeder.map(|f| f.join()) {
            return Err(format!("{}: sending input: {e}", what()));
        }
        if status.success() {
            Ok(out)
        } else {
            let err = String::from_utf8_lossy(&err);
            Err(format!("{}: {status} {}", what(), err.trim()))
        }
    }

    /// Ends the kept shell and the multiplexed connection.
    pub fn close(&self) {
        *self.shell.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let _ = Command::new("ssh")
            .args(["-o", &format!("ControlPath={}", self.control.display())])
            .args(["-O", "exit", &self.host.address])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl targets::host::HostShell for Ssh {
    fn name(&self) -> &str {
        &self.host.name
    }

    fn run(&self, command: &str) -> Result<String, String> {
        Ssh::run(self, command)
    }

    fn fetch(&self, command: &str) -> Result<Vec<u8>, String> {
        self.run_with(command, None)
    }
}

/// What a run needs to know of a host before it starts: found by one command there.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// `uname -m`.
    pub arch: String,
    /// libfaketime's library, where the host has one.
    pub libfaketime: Option<String>,
    /// etcd's binary, where the host has one.
    pub etcd: Option<String>,
    /// Whether `tc` is installed.
    pub tc: bool,
    /// Those of the programs asked about that the host does not have.
    pub missing: Vec<String>,
    /// What the host's base directory for runs allows.
    pub dir: BaseDir,
}

/// A host's base directory for runs, as the probe found it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BaseDir {
    /// Writable, and programs run from it.
    Ok,
    /// Writable, but programs cannot run from it (mounted `noexec`).
    Noexec,
    Unwritable,
    /// Not there (or the probe said nothing of it).
    #[default]
    Missing,
}

/// Asks each of `hosts` for its [`Facts`], and whether it has `programs[i]` (host `i`'s); the
/// connections are closed again. The first host that cannot be asked is the error.
pub fn probe(hosts: &[Host], programs: &[Vec<String>]) -> Result<Vec<Facts>, String> {
    let dir = std::env::temp_dir().join(format!("fl-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let facts = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let ssh = Ssh::new(h.clone(), &dir);
            let programs = programs.get(i).map_or(&[][..], Vec::as_slice);
            let asked = ssh.run(&probe_command(programs, h.base_dir()));
            ssh.close();
            asked.map(|out| read_facts(&out))
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    facts
}

fn probe_command(programs: &[String], base: &str) -> String {
    let libs: Vec<String> = nemesis::clock::CANDIDATES
        .iter()
        .map(|p| targets::host::quote(p))
        .collect();
    let mut c = format!(
        "echo arch=$(uname -m); echo libfaketime=$(for f in {}; do if [ -e \"$f\" ]; then \
         echo \"$f\"; break; fi; done); echo etcd=$(command -v etcd || ls /usr/bin/etcd \
         2>/dev/null); echo tc=$(command -v tc)",
        libs.join(" ")
    );
    // Whether runs can write in the base directory and run a program from it.
    c.push_str(&format!(
        "; b={}; f=\"$b/.faultline-probe-$$\"; if [ ! -d \"$b\" ]; then echo dir=missing; \
         elif echo '#!/bin/sh' > \"$f\" 2>/dev/null; then chmod +x \"$f\"; \
         if \"$f\" 2>/dev/null; then echo dir=ok; else echo dir=noexec; fi; rm -f \"$f\"; \
         else echo dir=unwritable; fi",
        targets::host::quote(base)
    ));
    for p in programs {
        let q = targets::host::quote(p);
        c.push_str(&format!("; command -v {q} >/dev/null || echo missing={q}"));
    }
    c
}

fn read_facts(out: &str) -> Facts {
    let mut f = Facts::default();
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_string();
        let some = Some(v.clone()).filter(|v| !v.is_empty());
        match k {
            "arch" => f.arch = v,
            "libfaketime" => f.libfaketime = some,
            "etcd" => f.etcd = some,
            "tc" => f.tc = some.is_some(),
            "missing" => f.missing.push(v),
            "dir" => {
                f.dir = match v.as_str() {
                    "ok" => BaseDir::Ok,
                    "noexec" => BaseDir::Noexec,
                    "unwritable" => BaseDir::Unwritable,
                    _ => BaseDir::Missing,
                }
            }
            _ => {}
        }
    }
    f
}

/// The program a start command runs: its first word after `exec` and any `NAME=value`.
pub fn program_of(command: &str) -> Option<String> {
    command
        .split_whitespace()
        .find(|w| *w != "exec" && !w.contains('='))
        .filter(|w| !w.contains('{'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_file_reads_and_bad_ones_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hosts.toml");
        std::fs::write(
            &f,
            "[[hosts]]\nname = \"h1\"\naddress = \"10.0.0.1\"\nuser = \"root\"\nport = 2222\n\
             ssh_options = [\"-o\", \"X=1\"]\n[[hosts]]\nname = \"h2\"\naddress = \"h2.example\"\n",
        )
        .unwrap();
        let hosts = load(&f).unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].port, Some(2222));
        // What `faultline lab` writes reads back the same, absent fields included.
        std::fs::write(&f, to_toml(hosts.clone())).unwrap();
        assert_eq!(load(&f).unwrap(), hosts);
        let a = Ssh::new(hosts[0].clone(), dir.path()).args();
        assert!(
            a.ends_with(&["-o".into(), "X=1".into(), "root@10.0.0.1".into()]),
            "{a:?}"
        );
        std::fs::write(&f, "[[hosts]]\nname = \"h1\"\nadress = \"x\"\n").unwrap();
        assert!(
            load(&f).unwrap_err().contains("adress"),
            "unknown field named"
        );
        std::fs::write(&f, "hosts = []\n").unwrap();
        assert!(load(&f).unwrap_err().contains("no [[hosts]]"));
        std::fs::write(
            &f,
            "[[hosts]]\nname = \"h\"\naddress = \"a\"\n[[hosts]]\nname = \"h\"\naddress = \"b\"\n",
        )
        .unwrap();
        assert!(load(&f).unwrap_err().contains("used twice"));
        for bad in ["runs", "/tmp/a b", "/tmp/../etc"] {
            std::fs::write(
                &f,
                format!("[[hosts]]\nname = \"h\"\naddress = \"a\"\ndir = \"{bad}\"\n"),
            )
            .unwrap();
            let e = load(&f).unwrap_err();
            assert!(e.contains("hosts[0].dir"), "{bad}: {e}");
        }
    }

    #[test]
    fn facts_are_read_from_what_the_probe_prints() {
        let f = read_facts(
            "arch=x86_64\nlibfaketime=\netcd=/usr/bin/etcd\ntc=/usr/sbin/tc\nmissing=/opt/kv\n",
        );
        assert_eq!(f.arch, "x86_64");
        assert_eq!(f.libfaketime, None);
        assert_eq!(f.etcd.as_deref(), Some("/usr/bin/etcd"));
        assert!(f.tc);
        assert_eq!(f.missing, ["/opt/kv"]);
        // The probe itself runs in a shell and says so.
        let probe = |base: &str| {
            let programs = ["sh".to_string(), "/nonexistent/kv".to_string()];
            let out = std::process::Command::new("sh")
                .args(["-c", &probe_command(&programs, base)])
                .output()
                .unwrap();
            read_facts(&String::from_utf8_lossy(&out.stdout))
        };
        let tmp = tempfile::tempdir().unwrap();
        let f = probe(tmp.path().to_str().unwrap());
        assert_eq!(f.arch, std::env::consts::ARCH);
        assert_eq!(f.missing, ["/nonexistent/kv"]);
        assert_eq!(f.dir, BaseDir::Ok);
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "the probe left its file"
        );
        assert_eq!(probe("/nonexistent/base").dir, BaseDir::Missing);
        assert_eq!(probe("/proc").dir, BaseDir::Unwritable);
        assert_eq!(
            program_of("exec /usr/bin/kv --x"),
            Some("/usr/bin/kv".into())
        );
        assert_eq!(program_of("A=1 exec kv"), Some("kv".into()));
        assert_eq!(program_of("exec {faultline} raftkv"), None);
    }
}
