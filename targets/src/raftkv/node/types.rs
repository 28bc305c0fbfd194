//! What the Raft core is configured with and speaks: its unsafe knobs and configuration, the
//! messages between nodes, and what it hands its driver ([`Ready`]) or refuses.

use super::*;

/// Deliberately unsafe behaviours, each breaking one rule (all off by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsafe {
    /// Grant votes without the election restriction of §5.4.1: a candidate with a shorter or
    /// older log can win and overwrite committed entries.
    pub no_election_restriction: bool,
    /// Commit entries of earlier terms by counting replicas (the situation of Figure 8, §5.4.2):
    /// an entry so "committed" can still be overwritten by another leader.
    pub commit_old_term: bool,
    /// Accept a membership change before this term's no-op has committed: the trap Ongaro
    /// described for single-server changes (2015), where a change begun under a previous leader
    /// and one begun now can give two disjoint majorities, and two leaders in one term.
    #[serde(default)]
    pub membership_without_noop: bool,
    /// Accept a membership change while another is uncommitted: two changes at once are no longer
    /// a single-server change, and old and new majorities need not overlap.
    #[serde(default)]
    pub concurrent_membership: bool,
    /// A new leader appends no no-op (§8), and serves reads without first committing an entry
    /// of its term. The no-op is how a leader learns its commit index: a follower hears that an
    /// entry committed only with the leader's next message, so a follower elected in between
    /// holds the entry but believes it uncommitted, and a read it serves at that commit index
    /// misses a write whose client was already told it succeeded.
    #[serde(default)]
    pub no_election_noop: bool,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub id: NodeId,
    /// The voters it starts with when its log and snapshot hold no configuration (this node
    /// included, unless it joins as a learner).
    pub members: Vec<NodeId>,
    /// The learners it starts with: a node joining an existing cluster starts as one.
    pub learners: Vec<NodeId>,
    /// An election starts after a random number of ticks in this range without a leader.
    pub election_ticks: (u64, u64),
    pub heartbeat_ticks: u64,
    /// Most entries in one AppendEntries.
    pub max_batch: usize,
    /// Entries sent but not acknowledged before the leader waits (pipelining window).
    pub max_in_flight: u64,
    /// How long (ms, on the driver's clock) a confirmed round lets a leader serve lease reads.
    /// Shorter than the shortest election timeout, so no other leader can be elected meanwhile —
    /// if every clock runs at the same rate and no leader is paused.
    pub lease_ms: u64,
    pub unsafe_: Unsafe,
    /// Stop (panic) on finding a safety rule broken: a committed entry about to be overwritten,
    /// a second leader in this node's term. On by default. The server turns it off when an
    /// unsafe knob is set: the knob is there to show what clients see when a rule is broken,
    /// and an implementation that never checked the rule carries on — it overwrites the entry
    /// or steps down — and says so in [`Ready::broken`] instead.
    pub assert_safety: bool,
    pub seed: u64,
}

impl Config {
    /// The same, starting from the configuration a snapshot recorded (`None` for none): the
    /// cluster a node was launched with may have changed since.
    pub fn restarting_with(mut self, members: Option<&Members>) -> Config {
        if let Some(m) = members {
            self.members = m.voters.iter().copied().collect();
            self.learners = m.learners.iter().copied().collect();
        }
        self
    }

    pub fn new(id: NodeId, members: Vec<NodeId>) -> Config {
        Config {
            id,
            members,
            learners: Vec::new(),
            election_ticks: (15, 30),
            heartbeat_ticks: 5,
            max_batch: 512,
            max_in_flight: 4096,
            lease_ms: 100,
            unsafe_: Unsafe::default(),
            assert_safety: true,
            seed: id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    RequestVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    Vote {
        term: u64,
        granted: bool,
    },
    AppendEntries {
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
        /// Leadership-confirmation round this message belongs to (ReadIndex, leases).
        round: u64,
    },
    AppendReply {
        term: u64,
        success: bool,
        /// On success: the last index known to match the leader's log.
        match_index: u64,
        /// On failure: where the leader should look next (§5.3's optimisation).
        conflict_index: u64,
        conflict_term: Option<u64>,
        round: u64,
    },
    InstallSnapshot {
        term: u64,
        last_index: u64,
        last_term: u64,
        data: String,
        round: u64,
        /// The configuration as of `last_index`.
        #[serde(default)]
        members: Members,
    },
}

impl Message {
    pub fn term(&self) -> u64 {
        match self {
            Message::RequestVote { term, .. }
            | Message::Vote { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendReply { term, .. }
            | Message::InstallSnapshot { term, .. } => *term,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub msg: Message,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// A snapshot: the state machine's serialized state after applying `last_index`.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub last_index: u64,
    pub last_term: u64,
    pub data: String,
}

/// What the driver must do after feeding inputs, in this order: make `hard_state`,
/// `truncate_from`, `append` and `snapshot` durable; then send `messages`; then install
/// `snapshot` and apply `apply`; then serve `reads` once applied up to their index.
#[derive(Debug, Default)]
pub struct Ready {
    pub hard_state: Option<(u64, Option<NodeId>)>,
    pub truncate_from: Option<u64>,
    pub append: Vec<Entry>,
    pub snapshot: Option<Snapshot>,
    pub messages: Vec<Envelope>,
    pub apply: Vec<Entry>,
    /// (read id, index): the read may be served once the state machine has applied `index`.
    pub reads: Vec<(u64, u64)>,
    /// Reads this node can no longer confirm (it stopped leading); their clients retry.
    pub failed_reads: Vec<u64>,
    /// Safety rules this node saw broken and carried on past (only without
    /// [`Config::assert_safety`]), in words, for the node's log.
    pub broken: Vec<String>,
}

/// A change of configuration, one server at a time (dissertation §4.1, §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new node joins as a learner: it receives the log but neither votes nor counts.
    AddLearner(NodeId),
    /// A learner that has caught up becomes a voter.
    Promote(NodeId),
    /// A voter or learner leaves.
    Remove(NodeId),
}

/// Why a change of configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeRefused {
    /// Not the leader; the leader if known.
    NotLeader(Option<NodeId>),
    /// The change at this index is not committed yet: one at a time.
    InFlight(u64),
    /// This leader's no-op has not committed: until it has, a change begun under an earlier
    /// leader may still be in flight unseen.
    NoopPending,
    /// The change does not fit the configuration (a member added twice, the last voter removed).
    Invalid(String),
}

impl std::fmt::Display for ChangeRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeRefused::NotLeader(Some(l)) => write!(f, "not the leader: n{l} is"),
            ChangeRefused::NotLeader(None) => write!(f, "not the leader, and no leader is known"),
            ChangeRefused::InFlight(i) => write!(
                f,
                "another membership change (log index {i}) is not committed yet: one at a time"
            ),
            ChangeRefused::NoopPending => write!(
                f,
                "this leader's first entry of its term has not committed yet; retry in a moment"
            ),
            ChangeRefused::Invalid(why) => f.write_str(why),
        }
    }
}

/// Why a proposal or read was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not the leader; the leader if known.
    NotLeader(Option<NodeId>),
}
