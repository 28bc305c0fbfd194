//! `--hosts FILE`: the hosts a run's nodes go on, asked once, before anything is made, whether
//! each has what the run needs of it.

use super::*;

/// Reads the hosts file and asks the hosts what the run needs of them (one connection each,
/// closed again): faultline's architecture for raftkv, etcd for etcd, the programs an http
/// target's start commands run, `tc` for latency and loss. One clear error for the first host
/// that cannot be reached or lacks what it needs, before anything is made.
pub(super) fn on_hosts(args: &RunArgs, file: &std::path::Path) -> Result<OnHosts, String> {
    let hosts = hosts::load(file)?;
    let (nodes, programs, runs_faultline) = match args.target.strip_prefix("http:") {
        Some(f) => {
            let desc = targets::described::Described::load(std::path::Path::new(f))
                .map_err(|e| format!("--target: {e}"))?;
            let programs = desc
                .nodes
                .iter()
                .map(|n| {
                    n.start
                        .as_deref()
                        .and_then(hosts::program_of)
                        .into_iter()
                        .collect()
                })
                .collect();
            (desc.nodes.len(), programs, desc.runs_faultline())
        }
        None => (args.nodes as usize, Vec::new(), args.target == "raftkv"),
    };
    if hosts.len() < nodes {
        return Err(format!(
            "--hosts {}: {} hosts for {nodes} nodes (node i runs on host i)",
            file.display(),
            hosts.len()
        ));
    }
    let hosts: Vec<hosts::Host> = hosts.into_iter().take(nodes).collect();
    let facts = hosts::probe(&hosts, &programs)?;
    fit_hosts(args, &hosts, &facts, runs_faultline)?;
    Ok(OnHosts { hosts, facts })
}

/// Whether each host has what the run needs of it (see [`on_hosts`]); the first that does not
/// is the error.
pub(super) fn fit_hosts(
    args: &RunArgs,
    hosts: &[hosts::Host],
    facts: &[hosts::Facts],
    runs_faultline: bool,
) -> Result<(), String> {
    for (i, (h, f)) in hosts.iter().zip(facts).enumerate() {
        let at = format!("{} ({})", h.name, h.address);
        let base = h.base_dir();
        let fix = "give the host a `dir` in the hosts file";
        match f.dir {
            hosts::BaseDir::Ok => {}
            hosts::BaseDir::Noexec if !runs_faultline => {}
            hosts::BaseDir::Noexec => {
                return Err(format!(
                    "{at}: programs cannot run from {base} (mounted noexec?), and faultline's binary is copied there: {fix}"
                ))
            }
            hosts::BaseDir::Missing => {
                return Err(format!("{at}: {base} does not exist there: {fix}"))
            }
            hosts::BaseDir::Unwritable => {
                return Err(format!("{at}: cannot write in {base} there: {fix}"))
            }
        }
        if let Some(p) = f.missing.first() {
            return Err(format!(
                "{at}: {p} is not installed there, and n{}'s start command runs it",
                i + 1
            ));
        }
        if runs_faultline && f.arch != std::env::consts::ARCH {
            return Err(format!(
                "{at} is {}, this machine {}: faultline's binary cannot run there",
                f.arch,
                std::env::consts::ARCH
            ));
        }
        if args.target == "etcd" && f.etcd.is_none() {
            return Err(format!(
                "{at}: etcd is not installed there (apt-get install etcd-server on the host)"
            ));
        }
        if (args.net_latency > 0 || args.net_loss > 0.0) && !f.tc {
            return Err(format!(
                "{at}: --net-latency and --net-loss need tc netem there, and tc is not installed (apt-get install iproute2 on the host)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod host_fit_tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn args(flags: &[&str]) -> RunArgs {
        Cli::try_parse_from(std::iter::once("run").chain(flags.iter().copied()))
            .unwrap()
            .run
    }

    fn host(name: &str) -> hosts::Host {
        hosts::Host {
            name: name.into(),
            address: format!("{name}.example"),
            user: None,
            port: None,
            identity: None,
            ssh_options: Vec::new(),
            dir: None,
        }
    }

    #[test]
    fn a_host_that_lacks_what_the_run_needs_is_one_error_naming_it() {
        let hosts = [host("h1"), host("h2")];
        let good = hosts::Facts {
            arch: std::env::consts::ARCH.into(),
            libfaketime: Some("/usr/lib/faketime/libfaketimeMT.so.1".into()),
            etcd: Some("/usr/bin/etcd".into()),
            tc: true,
            missing: Vec::new(),
            dir: hosts::BaseDir::Ok,
        };
        let first = good.clone();
        let facts = move |bad: hosts::Facts| vec![first.clone(), bad];
        assert!(fit_hosts(&args(&[]), &hosts, &facts(good.clone()), true).is_ok());
        let other_arch = hosts::Facts {
            arch: "riscv64".into(),
            ..good.clone()
        };
        let e = fit_hosts(&args(&[]), &hosts, &facts(other_arch.clone()), true).unwrap_err();
        assert!(e.starts_with("h2 (h2.example) is riscv64"), "{e}");
        // So is a target file whose commands run the copied binary.
        let file = args(&["--target", "http:kv.toml"]);
        let e = fit_hosts(&file, &hosts, &facts(other_arch.clone()), true).unwrap_err();
        assert!(e.contains("faultline's binary cannot run there"), "{e}");
        // etcd runs the host's own binary: the architecture is the host's business.
        assert!(fit_hosts(
            &args(&["--target", "etcd"]),
            &hosts,
            &facts(other_arch),
            false
        )
        .is_ok());
        let no_etcd = hosts::Facts {
            etcd: None,
            ..good.clone()
        };
        let e =
            fit_hosts(&args(&["--target", "etcd"]), &hosts, &facts(no_etcd), false).unwrap_err();
        assert_eq!(
            e,
            "h2 (h2.example): etcd is not installed there (apt-get install etcd-server on the host)"
        );
        let no_tc = hosts::Facts {
            tc: false,
            ..good.clone()
        };
        assert!(fit_hosts(&args(&[]), &hosts, &facts(no_tc.clone()), true).is_ok());
        let e =
            fit_hosts(&args(&["--net-latency", "20"]), &hosts, &facts(no_tc), true).unwrap_err();
        assert!(e.contains("tc is not installed"), "{e}");
        let missing = hosts::Facts {
            missing: vec!["/opt/kv".into()],
            ..good.clone()
        };
        let e = fit_hosts(&args(&[]), &hosts, &facts(missing), true).unwrap_err();
        assert_eq!(
            e,
            "h2 (h2.example): /opt/kv is not installed there, and n2's start command runs it"
        );
        // The base directory for runs: programs must run from it only when faultline's binary
        // is copied there.
        let dir = |d: hosts::BaseDir| hosts::Facts {
            dir: d,
            ..good.clone()
        };
        let e = fit_hosts(
            &args(&[]),
            &hosts,
            &facts(dir(hosts::BaseDir::Noexec)),
            true,
        )
        .unwrap_err();
        assert!(
            e.contains("programs cannot run from /tmp (mounted noexec?)"),
            "{e}"
        );
        assert!(
            e.ends_with("give the host a `dir` in the hosts file"),
            "{e}"
        );
        let etcd = args(&["--target", "etcd"]);
        assert!(fit_hosts(&etcd, &hosts, &facts(dir(hosts::BaseDir::Noexec)), false).is_ok());
        let e = fit_hosts(&etcd, &hosts, &facts(dir(hosts::BaseDir::Missing)), false).unwrap_err();
        assert!(e.contains("/tmp does not exist there"), "{e}");
        let e = fit_hosts(
            &etcd,
            &hosts,
            &facts(dir(hosts::BaseDir::Unwritable)),
            false,
        )
        .unwrap_err();
        assert!(e.contains("cannot write in /tmp there"), "{e}");
    }
}
