use super::*;

#[test]
fn malformed_append_entries_from_the_network_is_ignored_not_a_panic() {
    let mut n = Node::new(Config::new(1, vec![1, 2, 3]), 0, None, Log::default(), None);
    let entry = |index, term| Entry {
        index,
        term,
        command: Command::Noop,
    };
    for entries in [
        vec![entry(5, 1)],
        vec![entry(1, 9)],
        vec![entry(1, 2), entry(2, 1)],
    ] {
        n.step(
            2,
            Message::AppendEntries {
                term: 2,
                prev_index: 0,
                prev_term: 0,
                entries,
                commit: 0,
                round: 0,
            },
        );
    }
    assert_eq!(n.log().last_index(), 0);
    n.step(
        2,
        Message::AppendEntries {
            term: 2,
            prev_index: 0,
            prev_term: 0,
            entries: vec![entry(1, 2)],
            commit: 1,
            round: 0,
        },
    );
    assert_eq!((n.log().last_index(), n.commit_index()), (1, 1));
}

/// A follower that committed entries 1–2 of term 2 is sent entry 1 of term 3 by a leader
/// that should never have been elected.
fn overwrite_committed(assert_safety: bool) -> (Node, Ready) {
    let cfg = Config {
        assert_safety,
        ..Config::new(1, vec![1, 2, 3])
    };
    let mut n = Node::new(cfg, 0, None, Log::default(), None);
    let entry = |index, term| Entry {
        index,
        term,
        command: Command::Noop,
    };
    let append = |term, entries, commit| Message::AppendEntries {
        term,
        prev_index: 0,
        prev_term: 0,
        entries,
        commit,
        round: 0,
    };
    n.step(2, append(2, vec![entry(1, 2), entry(2, 2)], 2));
    assert_eq!(n.commit_index(), 2);
    n.take_ready();
    n.step(3, append(3, vec![entry(1, 3)], 1));
    let ready = n.take_ready();
    (n, ready)
}

#[test]
#[should_panic(expected = "a committed entry is never overwritten")]
fn a_checked_node_stops_rather_than_overwrite_a_committed_entry() {
    overwrite_committed(true);
}

#[test]
fn an_unchecked_node_overwrites_the_entry_and_says_so() {
    let (n, ready) = overwrite_committed(false);
    assert_eq!(
        ready.broken,
        vec!["committed entry 1 of term 2 overwritten by leader 3's entry of term 3"]
    );
    assert_eq!((n.log().last_index(), n.log().term_at(1)), (1, Some(3)));
    // What was applied stays applied; the commit index never goes back.
    assert_eq!(n.commit_index(), 2);
    assert!(ready.apply.is_empty());
    assert_eq!(ready.truncate_from, Some(1));
}
