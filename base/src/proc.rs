//! Processes as `/proc` shows them: each one's state, parent and start time, and a process's
//! tree. The one reader of `/proc/<pid>/stat` (the nemesis's pauses and crashes, the
//! launcher's start-up checks).

/// `pid`'s descendants (children, their children, …), parents before their children. A server
/// whose workers leave its process group (PostgreSQL's backends call `setsid`) is still one
/// tree: pausing or killing a node means every process of it.
pub fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((p, parent(p)?))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let of = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == of).map(|(p, _)| *p));
        i += 1;
    }
    found.remove(0);
    found
}

/// A process as `/proc/<pid>/stat` shows it: the state letter, the parent's pid, and the start
/// time in clock ticks since boot.
pub fn stat(pid: u32) -> Option<(char, u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything; fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let parent = fields.get(1)?.parse().ok()?;
    // Field 22 of the full line is the 20th after the name (state is the 3rd of the full line).
    let start = fields.get(19)?.parse().ok()?;
    Some((state, parent, start))
}

/// The process's state letter (`R`, `S`, `T` stopped, `Z` zombie, …), if it exists.
pub fn state(pid: u32) -> Option<char> {
    stat(pid).map(|(s, _, _)| s)
}

/// The process's parent, if it exists.
pub fn parent(pid: u32) -> Option<u32> {
    stat(pid).map(|(_, p, _)| p)
}

/// When the process started, in clock ticks since boot.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, _, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shells_children_and_grandchildren_are_found() {
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "sh -c 'sleep 30 & wait' & wait"])
            .spawn()
            .expect("sh runs");
        let pid = sh.id();
        let mut tree = Vec::new();
        for _ in 0..100 {
            tree = descendants(pid);
            if tree.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(tree.len(), 2, "a shell and its sleep: {tree:?}");
        assert_eq!(parent(tree[1]), Some(tree[0]), "parents first");
        for p in tree.iter().rev().chain([&pid]) {
            let _ = std::process::Command::new("kill")
                .args(["-9", &p.to_string()])
                .status();
        }
        sh.wait().unwrap();
    }
}
