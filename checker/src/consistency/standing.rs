//! The models of the ladder ([`Level`], strongest first, and which implies which) and where a
//! history stands on each ([`Standing`]).

use crate::result::Verdict;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A consistency model of the ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Linearizable,
    Sequential,
    Pram,
    MonotonicReads,
    MonotonicWrites,
    ReadYourWrites,
    WritesFollowReads,
    Eventual,
}

impl Level {
    /// Strongest first.
    pub const ALL: [Level; 8] = [
        Level::Linearizable,
        Level::Sequential,
        Level::Pram,
        Level::MonotonicReads,
        Level::MonotonicWrites,
        Level::ReadYourWrites,
        Level::WritesFollowReads,
        Level::Eventual,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Level::Linearizable => "linearizable",
            Level::Sequential => "sequential",
            Level::Pram => "pram",
            Level::MonotonicReads => "monotonic-reads",
            Level::MonotonicWrites => "monotonic-writes",
            Level::ReadYourWrites => "read-your-writes",
            Level::WritesFollowReads => "writes-follow-reads",
            Level::Eventual => "eventual",
        }
    }

    /// The models this one directly implies.
    pub fn implies(self) -> &'static [Level] {
        match self {
            Level::Linearizable => &[Level::Sequential],
            Level::Sequential => &[Level::Pram, Level::WritesFollowReads],
            Level::Pram => &[
                Level::MonotonicReads,
                Level::MonotonicWrites,
                Level::ReadYourWrites,
            ],
            _ => &[],
        }
    }

    /// Whether this model implies `other` (directly or through others).
    pub fn stronger_than(self, other: Level) -> bool {
        self.implies()
            .iter()
            .any(|&l| l == other || l.stronger_than(other))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        Level::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown consistency model {s:?}; expected one of {}",
                    Level::ALL.map(Level::name).join(", ")
                )
            })
    }
}

/// A set of models as the command line names them: `all`, or names separated by commas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LevelSet(pub Vec<Level>);

impl std::str::FromStr for LevelSet {
    type Err = String;
    fn from_str(s: &str) -> Result<LevelSet, String> {
        if s == "all" {
            return Ok(LevelSet(Level::ALL.to_vec()));
        }
        let mut levels: Vec<Level> = s
            .split(',')
            .map(|p| p.trim().parse())
            .collect::<Result<_, _>>()?;
        levels.sort();
        levels.dedup();
        Ok(LevelSet(levels))
    }
}

/// Whether a history keeps a model's promise. Ordered by severity, so the worse of two is the
/// greater.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    Holds,
    /// Could not be decided; the reason says why. Never a guess.
    Unknown,
    Violated,
}

impl Standing {
    /// The worse of two.
    pub fn and(self, other: Standing) -> Standing {
        self.max(other)
    }

    /// 0 holds, 1 violated, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Standing::Holds => 0,
            Standing::Violated => 1,
            Standing::Unknown => 2,
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Standing::Holds => "holds",
            Standing::Violated => "violated",
            Standing::Unknown => "unknown",
        }
    }
}

impl From<Verdict> for Standing {
    fn from(v: Verdict) -> Standing {
        match v {
            Verdict::Linearizable => Standing::Holds,
            Verdict::NotLinearizable => Standing::Violated,
            Verdict::Unknown => Standing::Unknown,
        }
    }
}
