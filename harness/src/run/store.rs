//! Where a run keeps everything: `STORE/<test>/<timestamp>/` with `history.jsonl`,
//! `nemesis.jsonl`, `config.json`, `results.json`, `nodes/` (node logs and data) and, while the
//! run is live, `state.json` for `faultline heal`. `STORE/latest` links to the newest run.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `20261122T143015Z` for a time in seconds since the epoch (UTC, proleptic Gregorian).
pub fn timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Makes a new run directory for `test` under `store` and points `store/latest` at it.
pub fn new_run_dir(store: &Path, test: &str) -> std::io::Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp = timestamp(secs);
    let parent = store.join(test);
    std::fs::create_dir_all(&parent)?;
    // Two runs in the same second get -2, -3, …
    let mut name = stamp.clone();
    let mut n = 1;
    let dir = loop {
        let dir = parent.join(&name);
        match std::fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                n += 1;
                name = format!("{stamp}-{n}");
            }
            Err(e) => return Err(e),
        }
    };
    let latest = store.join("latest");
    let tmp = store.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(Path::new(test).join(&name), &tmp)?;
    std::fs::rename(&tmp, &latest)?;
    Ok(dir)
}

/// A short identifier for one run, different from every other run's (time, process and a
/// counter, mixed): the prefix of every key the run writes, so that a second run against nodes
/// someone else keeps running never reads the first run's data as its own.
pub fn run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut state = nanos
        ^ u64::from(std::process::id()).rotate_left(32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // splitmix64: every input bit reaches every output bit.
    let mut x = base::splitmix64(&mut state);
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = String::from("r");
    for _ in 0..7 {
        id.push(DIGITS[(x % 36) as usize] as char);
        x /= 36;
    }
    id
}

/// Every run directory in a store (`<test>/<timestamp>/`), as `(test, directory)`, sorted.
/// `latest` and hidden entries are not tests.
pub fn run_dirs(store: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for test in std::fs::read_dir(store).into_iter().flatten().flatten() {
        let path = test.path();
        let name = test.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || path.is_symlink() || !path.is_dir() {
            continue;
        }
        for run in std::fs::read_dir(&path).into_iter().flatten().flatten() {
            if run.path().is_dir() {
                found.push((name.clone(), run.path()));
            }
        }
    }
    found.sort();
    found
}

/// Removes the directories under `nodes` (the nodes' data; their logs are files and stay);
/// the bytes freed.
pub fn drop_data(nodes: &std::path::Path) -> std::io::Result<u64> {
    let mut freed = 0;
    for entry in std::fs::read_dir(nodes)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            freed += disk_usage(&entry.path());
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(freed)
}

fn disk_usage(path: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| disk_usage(&e.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_short_plain_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| run_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 8, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "19700101T000000Z");
        assert_eq!(timestamp(951_782_400), "20000229T000000Z");
        assert_eq!(timestamp(1_795_358_340), "20261122T143900Z");
    }

    #[test]
    fn runs_get_their_own_directories_and_latest_follows() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let a = new_run_dir(&store, "t").unwrap();
        let b = new_run_dir(&store, "t").unwrap();
        assert_ne!(a, b);
        assert_eq!(
            std::fs::canonicalize(store.join("latest")).unwrap(),
            std::fs::canonicalize(&b).unwrap()
        );
        std::fs::create_dir_all(store.join(".hidden/x")).unwrap();
        assert_eq!(
            run_dirs(&store),
            vec![("t".to_string(), a), ("t".to_string(), b)],
            "runs only: neither latest nor hidden entries"
        );
    }
}
