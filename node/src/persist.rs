//! Durable files of the consensus driver: the signing guard's state and the WAL.
//!
//! Both are written so that a crash at any instant leaves a state the node
//! can trust: the guard file is replaced atomically (temp file, fsync, rename,
//! fsync of the directory) before a signature leaves the process; the WAL is
//! appended and fsynced before the driver acts on an input.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use cairn_consensus::guard::{GuardState, GuardStore, StoreError};
use cairn_consensus::wal::{self, WalRecord};
use serde::{Deserialize, Serialize};

/// Writes `bytes` to `path` atomically and durably.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// `data/priv_validator_state.json`: CometBFT's fields for operators to read
/// (`height`, `round`, `step`, `signature`, `signbytes`), plus `state`, the
/// canonical encoding of the guard's full state, which is what is trusted.
#[derive(Serialize, Deserialize, Default)]
struct GuardFile {
    height: String,
    round: u32,
    step: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signbytes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
}

/// The signing guard's state in `data/priv_validator_state.json`.
#[derive(Debug)]
pub struct FileGuardStore {
    path: PathBuf,
}

impl FileGuardStore {
    /// A store at `path` (the file may not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> FileGuardStore {
        FileGuardStore { path: path.into() }
    }

    /// Forgets what was signed. Only `cairn unsafe-reset-all --reset-guard` does this.
    pub fn reset(&self) -> std::io::Result<()> {
        let empty = serde_json::to_vec_pretty(&GuardFile {
            height: "0".into(),
            ..GuardFile::default()
        })
        .map_err(std::io::Error::other)?;
        write_durably(&self.path, &empty)
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl GuardStore for FileGuardStore {
    fn load(&self) -> Result<Option<GuardState>, StoreError> {
        let err = |e: String| StoreError(format!("{}: {e}", self.path.display()));
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(e.to_string())),
        };
        let file: GuardFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        let Some(state) = file.state else {
            // Nothing signed yet unless the CometBFT fields say otherwise.
            if file.height != "0" {
                return Err(err(
                    "records a signed height but no guard state; refusing to sign".into(),
                ));
            }
            return Ok(None);
        };
        let bytes = b64().decode(state).map_err(|e| err(e.to_string()))?;
        GuardState::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| err(e.to_string()))
    }

    fn save(&mut self, state: &GuardState) -> Result<(), StoreError> {
        let file = GuardFile {
            height: state.height.to_string(),
            round: state.round,
            step: match state.step {
                cairn_consensus::Step::Propose => 1,
                cairn_consensus::Step::Prevote => 2,
                cairn_consensus::Step::Precommit => 3,
            },
            signature: Some(b64().encode(state.signature.0)),
            signbytes: Some(hex::encode_upper(&state.sign_bytes.0)),
            state: Some(b64().encode(state.to_bytes())),
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| StoreError(format!("encoding guard state: {e}")))?;
        write_durably(&self.path, &bytes)
            .map_err(|e| StoreError(format!("{}: {e}", self.path.display())))
    }
}

/// Why the WAL could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WalFileError {
    /// File system error.
    #[error("WAL {path}: {source}")]
    Io {
        /// The WAL file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Corruption before the tail: never skipped silently.
    #[error("WAL {path}: {source}")]
    Corrupt {
        /// The WAL file.
        path: PathBuf,
        /// What the decoder found.
        source: wal::WalError,
    },
}

/// The consensus write-ahead log of the current height: `data/cs.wal`.
///
/// A new height starts a new file (written beside and renamed over the old
/// one), so the log never grows past one height.
#[derive(Debug)]
pub struct WalFile {
    path: PathBuf,
    file: File,
}

/// What [`WalFile::open`] found.
#[derive(Debug)]
pub struct Recovered {
    /// Every whole record.
    pub records: Vec<WalRecord>,
    /// Bytes of an incomplete last record that were cut off, if any.
    pub torn_tail_bytes: Option<usize>,
}

impl WalFile {
    /// Opens (or creates) the WAL, reads its records, and cuts off a torn tail.
    pub fn open(path: impl Into<PathBuf>) -> Result<(WalFile, Recovered), WalFileError> {
        let path = path.into();
        let io = |source| WalFileError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).map_err(io)?;
        let decoded = wal::decode(&buf).map_err(|source| WalFileError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let torn_tail_bytes = decoded.torn_tail.map(|t| {
            // Keep only the whole records.
            let _ = file.set_len(t.offset as u64);
            t.len
        });
        if torn_tail_bytes.is_some() {
            file.sync_all().map_err(io)?;
        }
        Ok((
            WalFile { path, file },
            Recovered {
                records: decoded.records,
                torn_tail_bytes,
            },
        ))
    }

    /// Appends `record` and fsyncs: when this returns, the record survives a crash.
    pub fn append(&mut self, record: &WalRecord) -> Result<(), WalFileError> {
        let frame = wal::encode_record(record);
        self.file
            .write_all(&frame)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| WalFileError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Starts a new log whose first record is `first` (a `NewHeight`),
    /// replacing the previous height's log atomically.
    pub fn rotate(&mut self, first: &WalRecord) -> Result<(), WalFileError> {
        let io = |source| WalFileError::Io {
            path: self.path.clone(),
            source,
        };
        write_durably(&self.path, &wal::encode_record(first)).map_err(io)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_consensus::guard::suite::{self, Harness};
    use cairn_types::Time;

    struct Files {
        dir: tempfile::TempDir,
        next: usize,
    }

    impl Harness for Files {
        type Store = FileGuardStore;
        fn fresh(&mut self) -> FileGuardStore {
            self.next += 1;
            FileGuardStore::new(self.dir.path().join(format!("guard{}.json", self.next)))
        }
        fn reopen(&mut self, store: FileGuardStore) -> FileGuardStore {
            FileGuardStore::new(store.path)
        }
    }

    #[test]
    fn file_guard_store_passes_the_shared_suite() {
        let mut h = Files {
            dir: tempfile::tempdir().unwrap(),
            next: 0,
        };
        let report = suite::run(&mut h);
        assert!(report.failed.is_empty(), "{report}");
        assert!(!report.passed.is_empty());
    }

    #[test]
    fn init_state_file_loads_as_nothing_signed_and_a_bare_height_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        fs::write(&p, r#"{"height":"0","round":0,"step":0}"#).unwrap();
        assert!(FileGuardStore::new(&p).load().unwrap().is_none());
        fs::write(&p, r#"{"height":"7","round":0,"step":2}"#).unwrap();
        assert!(FileGuardStore::new(&p).load().is_err());
    }

    #[test]
    fn wal_survives_reopen_cuts_a_torn_tail_and_refuses_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cs.wal");
        let rec = |h| WalRecord::NewHeight {
            height: h,
            now: Time(h),
        };
        let (mut w, r) = WalFile::open(&p).unwrap();
        assert!(r.records.is_empty());
        w.rotate(&rec(5)).unwrap();
        w.append(&rec(6)).unwrap();
        drop(w);
        // A torn write: half of a third record.
        let frame = wal::encode_record(&rec(7));
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&frame[..frame.len() / 2]).unwrap();
        drop(f);
        let (mut w, r) = WalFile::open(&p).unwrap();
        assert_eq!(r.records, vec![rec(5), rec(6)]);
        assert_eq!(r.torn_tail_bytes, Some(frame.len() / 2));
        w.append(&rec(8)).unwrap();
        drop(w);
        let (_, r) = WalFile::open(&p).unwrap();
        assert_eq!(r.records, vec![rec(5), rec(6), rec(8)]);
        // Damage the first record's body: an error, not a silent skip.
        let mut bytes = fs::read(&p).unwrap();
        bytes[20] ^= 0xff;
        fs::write(&p, &bytes).unwrap();
        assert!(matches!(
            WalFile::open(&p),
            Err(WalFileError::Corrupt { .. })
        ));
    }
}
