//! Process trees, as `/proc` shows them.

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

/// The parent of `pid`, from `/proc/<pid>/stat` (the field after the state, which follows the
/// last `)` of the command name).
fn parent(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
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
