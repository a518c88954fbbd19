//! The WAL record format, its decoder, and replay.
//!
//! The node appends one frame per record to a file; this module defines the
//! bytes and reads them back from a buffer.
//!
//! ```text
//! frame = len: u32 LE | len_check: [u8; 4] | body_check: [u8; 8] | body: [u8; len]
//!   len_check  = SHA-256("cairn/wal/len" ‖ len)[..4]
//!   body_check = SHA-256("cairn/wal/body" ‖ body)[..8]
//!   body       = canonical encoding of a WalRecord
//! ```
//! Reading stops at the first frame that is not whole:
//! - a header or body cut short by the end of the buffer, a last frame whose
//!   body checksum fails, or a tail of zero bytes (a file extended but not
//!   written), is a torn tail: the last write did not finish before a crash.
//!   It is reported, and replay uses the records before it;
//! - anything else (a bad length check, a bad body check with more bytes
//!   after it, a body that does not decode) is corruption, an error: a record
//!   in the middle of the log is never skipped silently.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::{Hash, Time};

use crate::core::Core;
use crate::input::Input;
use crate::output::Output;

/// Largest record body accepted, in bytes (a record may carry a block).
pub const MAX_RECORD_BYTES: usize = 64 << 20;
const HEADER: usize = 16;

/// One WAL record.
// Decoded one at a time; boxing the input would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum WalRecord {
    /// A core for `height` was started at `now` ([`Core::start`]).
    NewHeight {
        /// The height.
        height: u64,
        /// The `now` passed to `start`.
        now: Time,
    },
    /// An input handled at `now`: a peer's message, a timeout, a value, or
    /// our own signed message fed back.
    Input {
        /// The `now` passed to `handle`.
        now: Time,
        /// The input.
        input: Input,
    },
}

/// Why a WAL buffer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    /// A frame before the tail is damaged.
    #[error("WAL corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// Offset of the frame.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A frame's checksums hold but its body does not decode (written by
    /// another version, or a bug).
    #[error("WAL record at byte {offset} does not decode: {reason}")]
    Undecodable {
        /// Offset of the frame.
        offset: usize,
        /// The decoder's message.
        reason: String,
    },
}

/// An incomplete last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Where the incomplete frame starts (truncate the file here).
    pub offset: usize,
    /// How many bytes it has.
    pub len: usize,
}

/// The records read from a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Whole records, in order.
    pub records: Vec<WalRecord>,
    /// The incomplete last frame, if any.
    pub torn_tail: Option<TornTail>,
}

fn len_check(len: u32) -> [u8; 4] {
    let h = Hash::digest_parts(&[b"cairn/wal/len", &len.to_le_bytes()]);
    [h.0[0], h.0[1], h.0[2], h.0[3]]
}

fn body_check(body: &[u8]) -> [u8; 8] {
    let h = Hash::digest_parts(&[b"cairn/wal/body", body]);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.0[..8]);
    out
}

/// The frame for `record`.
pub fn encode_record(record: &WalRecord) -> Vec<u8> {
    let body = cairn_types::codec::encode(record);
    // Bodies over 4 GiB cannot occur (MAX_RECORD_BYTES); saturate rather than wrap.
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len_check(len));
    out.extend_from_slice(&body_check(&body));
    out.extend_from_slice(&body);
    out
}

/// Reads every whole record of `buf`.
pub fn decode(buf: &[u8]) -> Result<Decoded, WalError> {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        let rest = &buf[offset..];
        let torn = Some(TornTail {
            offset,
            len: rest.len(),
        });
        if rest.iter().all(|b| *b == 0) {
            return Ok(Decoded {
                records,
                torn_tail: torn,
            });
        }
        if rest.len() < HEADER {
            return Ok(Decoded {
                records,
                torn_tail: torn,
            });
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if rest[4..8] != len_check(len) {
            return Err(WalError::Corrupt {
                offset,
                reason: "length check fails",
            });
        }
        let len = len as usize;
        if len > MAX_RECORD_BYTES {
            return Err(WalError::Corrupt {
                offset,
                reason: "record longer than the limit",
            });
        }
        if rest.len() < HEADER + len {
            return Ok(Decoded {
                records,
                torn_tail: torn,
            });
        }
        let body = &rest[HEADER..HEADER + len];
        if rest[8..16] != body_check(body) {
            if rest.len() == HEADER + len {
                // The last frame, partly written.
                return Ok(Decoded {
                    records,
                    torn_tail: torn,
                });
            }
            return Err(WalError::Corrupt {
                offset,
                reason: "body check fails before the end of the log",
            });
        }
        let record = cairn_types::codec::decode(body, MAX_RECORD_BYTES).map_err(|e| {
            WalError::Undecodable {
                offset,
                reason: e.to_string(),
            }
        })?;
        records.push(record);
        offset += HEADER + len;
    }
    Ok(Decoded {
        records,
        torn_tail: None,
    })
}

/// The records of `height`: those after the last `NewHeight` for it (the
/// `NewHeight` included). Empty if the height never started.
pub fn records_for_height(records: &[WalRecord], height: u64) -> &[WalRecord] {
    let start = records
        .iter()
        .rposition(|r| matches!(r, WalRecord::NewHeight { height: h, .. } if *h == height));
    start.map_or(&[], |s| &records[s..])
}

/// Replays `records` (from [`records_for_height`]) into a core freshly made
/// with [`Core::new`] for that height, and returns every output in order.
/// The shell performs them again: signing repeats through the guard, which
/// returns the stored messages; the last timeouts are re-armed.
pub fn replay(core: &mut Core, records: &[WalRecord]) -> Vec<Output> {
    let mut out = Vec::new();
    for r in records {
        match r {
            WalRecord::NewHeight { height, now } if *height == core.height() => {
                out.extend(core.start(*now));
            }
            WalRecord::NewHeight { .. } => {}
            WalRecord::Input { now, input } => out.extend(core.handle(*now, input.clone())),
        }
    }
    out
}
