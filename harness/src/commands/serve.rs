//! `faultline serve [STORE]`: a local web page over the store — every run in a table, newest
//! first, each linking to its report and its files. It reads the store as it is on every request
//! (no database, no cache), so a run finished a second ago is there on reload. A run stored
//! before reports existed gets its report built on request, in memory; the store is never
//! written to.
//!
//! It listens on 127.0.0.1 unless told otherwise: the store holds node logs and data, which are
//! not for the whole network.

use crate::report::{self, esc};
use crate::run::config::RunConfig;
use crate::run::results::RunResults;
use crate::EXIT_BAD_INPUT;
use clap::Args;
use serde_json::{json, Value};
use std::io::Write;
use std::net::{IpAddr, TcpListener};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use targets::http_server::{self, Handled, Request, Response};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The store to show (the directory `faultline run --store` wrote to).
    #[arg(default_value = "store", value_name = "STORE")]
    pub store: PathBuf,
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: IpAddr,
}

pub fn run(args: ServeArgs) -> u8 {
    if !args.store.is_dir() {
        eprintln!(
            "error: {} is not a directory; `faultline run` makes a store, or name one: faultline serve STORE",
            args.store.display()
        );
        return EXIT_BAD_INPUT;
    }
    let store = match args.store.canonicalize() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", args.store.display());
            return EXIT_BAD_INPUT;
        }
    };
    let listener = match TcpListener::bind((args.bind, args.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}:{}: {e}", args.bind, args.port);
            return EXIT_BAD_INPUT;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!(
        "faultline serve: http://{addr}/ showing {} (Ctrl-C stops)",
        store.display()
    );
    let _ = std::io::stdout().flush();
    // Pages are read and built on a thread of their own, so a slow report blocks nobody.
    let limits = http_server::Limits {
        answer_within: Duration::from_secs(300),
        on_silence: Response::error(504, "the page took longer than 300 s to build"),
        ..http_server::Limits::default()
    };
    let served = http_server::serve(listener, limits, 2, move |req: Request| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let store = store.clone();
        std::thread::spawn(move || {
            let Reply(status, content_type, body) = respond(&store, &req);
            let _ = tx.send(Response {
                status,
                content_type,
                body,
                location: None,
            });
        });
        Handled::Later(rx)
    });
    match served {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: serving {addr}: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// A reply: status, content type, body.
struct Reply(u16, &'static str, Vec<u8>);

impl Reply {
    fn html(body: String) -> Reply {
        Reply(200, "text/html; charset=utf-8", body.into_bytes())
    }
    fn error(status: u16, message: &str) -> Reply {
        Reply(
            status,
            "text/plain; charset=utf-8",
            format!("{message}\n").into_bytes(),
        )
    }
}

/// GET and HEAD (whose body the server leaves out) of the store's pages and files.
fn respond(store: &Path, req: &Request) -> Reply {
    if req.method == "GET" || req.method == "HEAD" {
        route(store, &req.path)
    } else {
        Reply::error(405, "only GET and HEAD")
    }
}

fn route(store: &Path, target: &str) -> Reply {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let Some(path) = percent_decode(path) else {
        return Reply::error(400, "malformed percent-encoding in the path");
    };
    match path.as_str() {
        "/" => Reply::html(index(store)),
        "/runs.json" => Reply(
            200,
            "application/json",
            serde_json::to_vec_pretty(&runs(store)).expect("runs serialize"),
        ),
        p => match p.strip_prefix("/run/") {
            Some(rest) => run_file(store, rest),
            None => Reply::error(404, "not found; the runs are at /"),
        },
    }
}

/// `%2F` and friends; `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A file or directory inside a run: `TEST/RUN/` lists it, `TEST/RUN/PATH` is the file. Nothing
/// outside the store is reachable: `..` is refused and the resolved path must stay inside.
fn run_file(store: &Path, rest: &str) -> Reply {
    let relative = Path::new(rest);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
        || rest.contains('\0')
    {
        return Reply::error(400, "paths inside the store only");
    }
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() < 2 {
        return Reply::error(404, "name a run: /run/TEST/RUN/");
    }
    let run_dir = store.join(parts[0]).join(parts[1]);
    let full = store.join(relative);
    if parts.len() == 3 && parts[2] == "report.html" && !full.exists() && run_dir.is_dir() {
        // A run from before reports, or one cut short: build its report now, in memory.
        return match report::for_run(&run_dir) {
            Ok(html) => Reply::html(html),
            Err(e) => Reply::error(500, &format!("cannot build the report: {e}")),
        };
    }
    let Ok(resolved) = full.canonicalize() else {
        return Reply::error(404, &format!("no such file: {rest}"));
    };
    if !resolved.starts_with(store) {
        return Reply::error(403, "that leads out of the store");
    }
    if resolved.is_dir() {
        return Reply::html(listing(&resolved, rest));
    }
    match std::fs::read(&resolved) {
        Ok(bytes) => Reply(200, content_type(&resolved), bytes),
        Err(e) => Reply::error(500, &format!("cannot read {rest}: {e}")),
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "xml" => "application/xml",
        "jsonl" | "log" | "txt" | "edn" | "toml" | "" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — faultline</title><style>{}\
         td a {{ margin-right: 10px; }} #runs td {{ border-bottom: 1px solid #f1f3f5; padding-right: 16px; }}</style></head>\
         <body><header><h1>{}</h1></header>{body}</body></html>\n",
        esc(title),
        report::STYLE,
        esc(title)
    )
}

fn listing(dir: &Path, rest: &str) -> String {
    let mut entries: Vec<(String, bool, u64)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let meta = e.metadata().ok();
            (
                e.file_name().to_string_lossy().into_owned(),
                meta.as_ref().is_some_and(|m| m.is_dir()),
                meta.map_or(0, |m| m.len()),
            )
        })
        .collect();
    entries.sort();
    let base = format!("/run/{}/", rest.trim_end_matches('/'));
    let mut body = String::from("<p><a href=\"/\">all runs</a></p><table id=\"files\">");
    for (name, is_dir, len) in entries {
        let slash = if is_dir { "/" } else { "" };
        body.push_str(&format!(
            "<tr><td><a href=\"{}{}{slash}\">{}{slash}</a></td><td>{}</td></tr>",
            esc(&base),
            esc(&name),
            esc(&name),
            if is_dir {
                String::new()
            } else {
                format!("{len} bytes")
            }
        ));
    }
    body.push_str("</table>");
    page(rest.trim_end_matches('/'), &body)
}

/// Every run in the store, newest first, as the table shows it.
fn runs(store: &Path) -> Vec<Value> {
    let mut found: Vec<Value> = crate::run::store::run_dirs(store)
        .into_iter()
        .filter(|(_, dir)| dir.join("config.json").is_file())
        .map(|(test, dir)| describe_run(&test, &dir))
        .collect();
    found.sort_by(|a, b| {
        (b["run"].as_str(), b["test"].as_str()).cmp(&(a["run"].as_str(), a["test"].as_str()))
    });
    found
}

fn describe_run(test: &str, dir: &Path) -> Value {
    // A file that does not read is shown as such, not as an empty run.
    let config = RunConfig::read(dir);
    let results = RunResults::read(dir);
    let run = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let config = config.as_ref().ok().and_then(Option::as_ref);
    let faults = config.map(|c| c.faults.join(", ")).unwrap_or_default();
    let verdict = match &results {
        Err(_) => "unreadable".to_string(),
        Ok(None) if dir.join("state.json").exists() => "running".to_string(),
        Ok(None) => "incomplete".to_string(),
        Ok(Some(r)) => r.verdict.words().to_string(),
    };
    let results = results.ok().flatten();
    json!({
        "test": test,
        "run": run,
        "started": report::started(&run),
        "target": report::target_words(config),
        "faults": if faults.is_empty() { "none".to_string() } else { faults },
        "ops": results.as_ref().map(|r| r.main_phase.ops),
        "require": results.as_ref().map(|r| r.require),
        "verdict": verdict,
        "strongest": results.as_ref().map(|r| &r.strongest),
        "interrupted": results.as_ref().map(|r| r.interrupted),
        "report": format!("/run/{test}/{run}/report.html"),
        "files": format!("/run/{test}/{run}/"),
    })
}

fn index(store: &Path) -> String {
    let runs = runs(store);
    let mut body = format!(
        "<p class=\"sub\">{} runs in {} · newest first · <a href=\"/runs.json\">as JSON</a></p>",
        runs.len(),
        esc(&store.display().to_string())
    );
    if runs.is_empty() {
        body.push_str(
            "<p class=\"none\">No runs yet: <code>faultline run</code> stores one here.</p>",
        );
    }
    body.push_str(
        "<table id=\"runs\"><thead><tr><th>date</th><th>test</th><th>target</th><th>faults</th>\
         <th>ops</th><th>verdict</th><th>strongest model</th><th></th></tr></thead><tbody>",
    );
    for r in &runs {
        let verdict = r["verdict"].as_str().unwrap_or("");
        let strongest = report::strings(&r["strongest"]).join(", ");
        body.push_str(&format!(
            "<tr class=\"run\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td><span class=\"badge {}\">{}{}</span></td><td>{}</td>\
             <td><a href=\"{}\">report</a><a href=\"{}\">files</a></td></tr>",
            esc(r["started"].as_str().unwrap_or("")),
            esc(r["test"].as_str().unwrap_or("")),
            esc(r["target"].as_str().unwrap_or("")),
            esc(r["faults"].as_str().unwrap_or("")),
            r["ops"].as_u64().map(|n| n.to_string()).unwrap_or_default(),
            esc(verdict),
            r["require"]
                .as_str()
                .map(|m| format!("{}: ", esc(m)))
                .unwrap_or_default(),
            esc(verdict),
            esc(if strongest.is_empty() {
                "none"
            } else {
                &strongest
            }),
            esc(r["report"].as_str().unwrap_or("")),
            esc(r["files"].as_str().unwrap_or("")),
        ));
    }
    body.push_str("</tbody></table>");
    page("faultline runs", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_decoded_and_never_leave_the_store() {
        assert_eq!(percent_decode("/run/a%20b/").as_deref(), Some("/run/a b/"));
        assert_eq!(percent_decode("/bad%2"), None);
        assert_eq!(percent_decode("/bad%zz"), None);
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        std::fs::create_dir_all(store.join("t/r")).unwrap();
        let store = store.canonicalize().unwrap();
        assert_eq!(run_file(&store, "t/r/../../../etc/passwd").0, 400);
        assert_eq!(route(&store, "/run/t/r/..%2F..%2F..%2Fetc%2Fpasswd").0, 400);
        assert_eq!(run_file(&store, "/etc/passwd").0, 400);
        std::os::unix::fs::symlink("/etc", store.join("t/r/escape")).unwrap();
        assert_eq!(run_file(&store, "t/r/escape/passwd").0, 403);
        assert_eq!(run_file(&store, "t/r/missing").0, 404);
    }
}
