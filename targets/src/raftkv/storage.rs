//! Durable state: term, vote, log and snapshot, in a data directory.
//!
//! `raft.log` is a sequence of records, each `[length u32][crc32 u32][JSON]`: a hard state
//! (term, vote), a batch of entries, or a truncation point. [`Storage::persist`] appends one
//! batch's records with a single write and one fsync — before the driver sends any message or
//! answers any client that depends on them (Figure 2: "updated on stable storage before
//! responding to RPCs"). `snapshot.json` is replaced atomically (write, fsync, rename, fsync the
//! directory), after which `raft.log` is rewritten the same way with only the entries after it.
//!
//! Recovery replays the records; a torn or corrupt record at the end (a crash in the middle of a
//! write) and everything after it is cut off. Nothing acknowledged can be there: acknowledgements
//! wait for the fsync.

use super::log::{Entry, Log};
use super::node::{NodeId, Ready};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A record as read back.
#[derive(Deserialize)]
enum Record {
    Hard { term: u64, vote: Option<NodeId> },
    Entries(Vec<Entry>),
    TruncateFrom(u64),
}

/// The same record as written: borrowed, so persisting a batch copies no entries. Serde gives
/// both the same JSON.
#[derive(Serialize)]
enum RecordRef<'a> {
    Hard { term: u64, vote: Option<NodeId> },
    Entries(&'a [Entry]),
    TruncateFrom(u64),
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    last_index: u64,
    last_term: u64,
    data: String,
}

/// A disk in memory, for simulations and tests: what a node has made durable, as [`Storage`]
/// keeps it on a real one — term and vote, the latest snapshot `(index, term, data)`, and the
/// log entries after it.
#[derive(Clone, Debug, Default)]
pub struct MemoryDisk {
    pub term: u64,
    pub vote: Option<NodeId>,
    pub snapshot: Option<(u64, u64, String)>,
    pub entries: Vec<Entry>,
}

impl MemoryDisk {
    /// Makes the durable part of `r` durable: hard state, a snapshot, a truncation, appends.
    pub fn persist(&mut self, r: &Ready) {
        if let Some((t, v)) = r.hard_state {
            self.term = t;
            self.vote = v;
        }
        if let Some(s) = &r.snapshot {
            self.entries.retain(|e| e.index > s.last_index);
            self.snapshot = Some((s.last_index, s.last_term, s.data.clone()));
        }
        if let Some(from) = r.truncate_from {
            self.entries.retain(|e| e.index < from);
        }
        for e in &r.append {
            self.entries.retain(|x| x.index < e.index);
            self.entries.push(e.clone());
        }
    }

    /// The log a node restarts with: the entries over the snapshot's base.
    pub fn log(&self) -> Log {
        let (index, term) = self.snapshot.as_ref().map_or((0, 0), |s| (s.0, s.1));
        Log::new(index, term, self.entries.clone())
    }

    /// The state machine a node restarts with: the snapshot's, or an empty store's.
    pub fn state_machine(&self) -> String {
        self.snapshot
            .as_ref()
            .map_or_else(|| super::kv::Kv::default().snapshot(), |s| s.2.clone())
    }
}

/// What a node restarts from.
pub struct Recovered {
    pub term: u64,
    pub vote: Option<NodeId>,
    pub log: Log,
    /// (last index, last term, state machine data)
    pub snapshot: Option<(u64, u64, String)>,
}

pub struct Storage {
    dir: PathBuf,
    file: File,
    /// `false` is the `no-fsync` knob: records are buffered in memory and written (never synced)
    /// by [`Storage::flush_unsynced`], so a SIGKILL loses them.
    sync: bool,
    buffered: Vec<u8>,
    term: u64,
    vote: Option<NodeId>,
}

const MAX_RECORD: usize = 256 << 20;

impl Storage {
    /// Opens (creating if needed) the data directory and recovers its state.
    pub fn open(dir: &Path, sync: bool) -> io::Result<(Storage, Recovered)> {
        std::fs::create_dir_all(dir)?;
        let snapshot = match std::fs::read(dir.join("snapshot.json")) {
            Ok(bytes) => {
                let s: SnapshotFile = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("snapshot.json: {e}"))
                })?;
                Some((s.last_index, s.last_term, s.data))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let path = dir.join("raft.log");
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (si, st) = snapshot.as_ref().map_or((0, 0), |s| (s.0, s.1));
        let mut term = 0;
        let mut vote = None;
        let mut entries: Vec<Entry> = Vec::new();
        let mut pos = 0;
        while let Some((record, len)) = decode(&bytes[pos..]) {
            pos += len;
            match record {
                Record::Hard { term: t, vote: v } => {
                    term = t;
                    vote = v;
                }
                Record::Entries(batch) => {
                    for e in batch {
                        if e.index <= si {
                            continue;
                        }
                        entries.retain(|x| x.index < e.index);
                        entries.push(e);
                    }
                }
                Record::TruncateFrom(i) => entries.retain(|x| x.index < i),
            }
        }
        if pos < bytes.len() {
            // A torn tail from a crash mid-write: cut it off so new records follow good ones.
            file.set_len(pos as u64)?;
            file.sync_all()?;
        }
        // Entries must continue the snapshot; a gap means the files do not belong together.
        if let Some(first) = entries.first() {
            if first.index != si + 1 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "raft.log starts at index {} but the snapshot ends at {si}",
                        first.index
                    ),
                ));
            }
        }
        let recovered = Recovered {
            term,
            vote,
            log: Log::new(si, st, entries),
            snapshot,
        };
        let storage = Storage {
            dir: dir.to_path_buf(),
            file,
            sync,
            buffered: Vec::new(),
            term,
            vote,
        };
        Ok((storage, recovered))
    }

    /// Makes a batch's durable part durable: one write, one fsync.
    pub fn persist(&mut self, ready: &Ready) -> io::Result<()> {
        let mut out = Vec::new();
        if let Some((term, vote)) = ready.hard_state {
            self.term = term;
            self.vote = vote;
            encode(&RecordRef::Hard { term, vote }, &mut out);
        }
        if let Some(i) = ready.truncate_from {
            encode(&RecordRef::TruncateFrom(i), &mut out);
        }
        if !ready.append.is_empty() {
            encode(&RecordRef::Entries(&ready.append), &mut out);
        }
        if out.is_empty() {
            return Ok(());
        }
        if self.sync {
            self.file.write_all(&out)?;
            self.file.sync_data()
        } else {
            self.buffered.extend_from_slice(&out);
            Ok(())
        }
    }

    /// With the `no-fsync` knob: writes what is buffered, without syncing.
    pub fn flush_unsynced(&mut self) -> io::Result<()> {
        if !self.buffered.is_empty() {
            self.file.write_all(&self.buffered)?;
            self.buffered.clear();
        }
        Ok(())
    }

    /// Replaces the snapshot and rewrites the log to hold only the entries after it.
    pub fn save_snapshot(
        &mut self,
        last_index: u64,
        last_term: u64,
        data: &str,
        log: &Log,
    ) -> io::Result<()> {
        self.flush_unsynced()?;
        let snap = SnapshotFile {
            last_index,
            last_term,
            data: data.to_string(),
        };
        let bytes = serde_json::to_vec(&snap).expect("snapshots serialize");
        self.replace("snapshot.json", &bytes)?;
        let mut out = Vec::new();
        encode(
            &RecordRef::Hard {
                term: self.term,
                vote: self.vote,
            },
            &mut out,
        );
        let after = log.slice(last_index + 1, usize::MAX);
        if !after.is_empty() {
            encode(&RecordRef::Entries(after), &mut out);
        }
        self.replace("raft.log", &out)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(self.dir.join("raft.log"))?;
        Ok(())
    }

    /// Atomically replaces `name` with `bytes`.
    fn replace(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if self.sync {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.dir.join(name))?;
        if self.sync {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}

fn encode(record: &RecordRef, out: &mut Vec<u8>) {
    let json = serde_json::to_vec(record).expect("records serialize");
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(&json).to_le_bytes());
    out.extend_from_slice(&json);
}

/// One record and its encoded length, or `None` at the end or at a torn/corrupt record.
fn decode(bytes: &[u8]) -> Option<(Record, usize)> {
    if bytes.len() < 8 {
        return None;
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
    if len > MAX_RECORD || bytes.len() < 8 + len {
        return None;
    }
    let body = &bytes[8..8 + len];
    if crc32(body) != crc {
        return None;
    }
    Some((serde_json::from_slice(body).ok()?, 8 + len))
}

/// CRC-32 (IEEE), bitwise: records are small and this is not the hot path next to fsync.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raftkv::log::Command;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            command: Command::Put {
                key: "k".into(),
                value: serde_json::json!(index),
            },
        }
    }

    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn temp(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("raftkv-storage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        TempDir(d)
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn recovers_term_vote_log_truncations_and_cuts_a_torn_tail() {
        let dir = temp("recover");
        {
            let (mut s, r) = Storage::open(&dir.0, true).unwrap();
            assert_eq!((r.term, r.vote, r.log.last_index()), (0, None, 0));
            s.persist(&Ready {
                hard_state: Some((2, Some(3))),
                append: vec![entry(1, 1), entry(2, 2), entry(3, 2)],
                ..Ready::default()
            })
            .unwrap();
            s.persist(&Ready {
                truncate_from: Some(3),
                append: vec![entry(3, 3)],
                ..Ready::default()
            })
            .unwrap();
        }
        // A crash in the middle of a write leaves half a record.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.0.join("raft.log"))
            .unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let (mut s, r) = Storage::open(&dir.0, true).unwrap();
        assert_eq!((r.term, r.vote), (2, Some(3)));
        assert_eq!(r.log.last_index(), 3);
        assert_eq!(r.log.term_at(3), Some(3));
        s.persist(&Ready {
            append: vec![entry(4, 3)],
            ..Ready::default()
        })
        .unwrap();
        let (_, r) = Storage::open(&dir.0, true).unwrap();
        assert_eq!(r.log.last_index(), 4, "records after the cut are readable");
    }

    #[test]
    fn snapshots_replace_the_log_prefix() {
        let dir = temp("snap");
        let (mut s, _) = Storage::open(&dir.0, true).unwrap();
        let entries: Vec<Entry> = (1..=10).map(|i| entry(i, 1)).collect();
        s.persist(&Ready {
            hard_state: Some((1, None)),
            append: entries.clone(),
            ..Ready::default()
        })
        .unwrap();
        let log = Log::new(0, 0, entries);
        s.save_snapshot(6, 1, "{\"data\":{},\"applied\":6}", &log)
            .unwrap();
        s.persist(&Ready {
            append: vec![entry(11, 1)],
            ..Ready::default()
        })
        .unwrap();
        let (_, r) = Storage::open(&dir.0, true).unwrap();
        assert_eq!(r.snapshot.as_ref().map(|s| (s.0, s.1)), Some((6, 1)));
        assert_eq!(r.log.snapshot_index(), 6);
        assert_eq!(r.log.last_index(), 11);
        assert_eq!(r.term, 1);
    }
}
