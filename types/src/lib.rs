//! # cairn-types
//!
//! The vocabulary every other Cairn crate speaks: hashes, keys, signatures,
//! addresses, transactions, blocks, headers, votes, proposals, commits,
//! evidence, validator sets and chain parameters, and the one canonical
//! codec in which all of them are hashed, signed, stored and gossiped.
//!
//! ## Formats (DESIGN.md §3; identical on every node)
//! - [`codec`]: borsh, decoded with a byte limit, whole input consumed, and
//!   `encode(decode(b)) == b` enforced. Variable-length fields are
//!   [`codec::Bytes`] / [`codec::Text`], which never pre-allocate from a
//!   length prefix.
//! - Hash: SHA-256. Address: first 20 bytes of SHA-256(public key). Node id:
//!   the same over the node key, as 40 lowercase hex.
//! - Sign bytes ([`sign_bytes`]): domain tag ‖ chain id ‖ encoded fields.
//! - Tx hash: SHA-256 of the full signed tx bytes. Block id: SHA-256 of the
//!   encoded header.
//! - Signature validity: ed25519-zebra's ZIP-215, the same answer alone or
//!   in a batch; small-order keys are refused where keys enter the chain.
//! - Merkle roots: RFC 6962.
//!
//! ## Invariants
//! - Nothing here does I/O, reads a clock or uses unseeded randomness.
//! - A value that decoded is canonical; a value that verified stays valid
//!   under every other verification path (batch or single).
//! - Quorum arithmetic is in integers: `3·p > 2·T`.

pub mod block;
pub mod codec;
pub mod crypto;
pub mod evidence;
pub mod json;
pub mod merkle;
pub mod params;
pub mod sign_bytes;
pub mod time;
pub mod tx;
pub mod validator;
pub mod vote;

pub use block::{Block, BlockId, Commit, CommitSig, Header, Version};
pub use codec::{Bytes, CodecError, Text};
pub use crypto::{
    Address, BatchVerifier, Hash, KeyCache, NodeId, PublicKey, Signature, SigningKey,
};
pub use evidence::{DuplicateVoteEvidence, Evidence};
pub use params::{AppParams, ChainParams, ConsensusParams};
pub use time::Time;
pub use tx::{Msg, PutCondition, Tx, TxBody};
pub use validator::{Validator, ValidatorSet};
pub use vote::{Proposal, SignedProposal, SignedVote, Vote, VoteKind};
