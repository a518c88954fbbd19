//! Blocks, headers, block ids and commits (DESIGN.md §3).

use borsh::{BorshDeserialize, BorshSerialize};

use crate::codec::{self, Bytes, CodecError, Text};
use crate::crypto::{Address, Hash, Signature};
use crate::evidence::Evidence;
use crate::merkle::merkle_root;
use crate::time::Time;

/// Identifies a block: the SHA-256 of its encoded header.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct BlockId(pub Hash);

/// Block and application protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Version {
    /// Block format version.
    pub block: u64,
    /// Application (state machine) version.
    pub app: u64,
}

/// The block format this code writes and accepts.
pub const BLOCK_VERSION: u64 = 11;
/// The application version this code executes.
pub const APP_VERSION: u64 = 1;

/// A block header: CometBFT's field set.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Header {
    /// Protocol versions.
    pub version: Version,
    /// The chain.
    pub chain_id: Text,
    /// Height, starting at the genesis initial height.
    pub height: u64,
    /// BFT time (weighted median of the last commit's timestamps; genesis time for the first block).
    pub time: Time,
    /// The previous block; `None` only for the first block.
    pub last_block_id: Option<BlockId>,
    /// [`Commit::hash`] of `last_commit`.
    pub last_commit_hash: Hash,
    /// Merkle root of the transactions' bytes.
    pub data_hash: Hash,
    /// Hash of the validator set that signs this block.
    pub validators_hash: Hash,
    /// Hash of the validator set for the next height.
    pub next_validators_hash: Hash,
    /// Hash of the consensus parameters in force.
    pub consensus_hash: Hash,
    /// State root after executing the previous block.
    pub app_hash: Hash,
    /// Merkle root of the previous block's transaction result codes.
    pub last_results_hash: Hash,
    /// Merkle root of the evidence in this block.
    pub evidence_hash: Hash,
    /// Address of the validator that proposed this block.
    pub proposer_address: Address,
}

impl Header {
    /// The block id: SHA-256 of the encoded header.
    pub fn id(&self) -> BlockId {
        BlockId(Hash::digest(&codec::encode(self)))
    }
}

/// A block: header, transactions (as signed bytes), evidence and the commit of the previous block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// Transactions as their canonical signed bytes.
    pub txs: Vec<Bytes>,
    /// Misbehaviour to punish.
    pub evidence: Vec<Evidence>,
    /// Precommits for the previous block; `None` only for the first block.
    pub last_commit: Option<Commit>,
}

impl Block {
    /// The block id (hash of the header).
    pub fn id(&self) -> BlockId {
        self.header.id()
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Length of the canonical encoding, counted without writing it (a full
    /// block is a megabyte; its size is checked and reported per block).
    pub fn encoded_len(&self) -> usize {
        borsh::object_length(self).unwrap_or(usize::MAX)
    }

    /// Decodes canonically within `max_bytes`.
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<Block, CodecError> {
        codec::decode(bytes, max_bytes)
    }

    /// `data_hash` computed from the transactions.
    pub fn compute_data_hash(&self) -> Hash {
        merkle_root(&self.txs)
    }

    /// `evidence_hash` computed from the evidence.
    pub fn compute_evidence_hash(&self) -> Hash {
        let items: Vec<Vec<u8>> = self.evidence.iter().map(codec::encode).collect();
        merkle_root(&items)
    }

    /// `last_commit_hash` computed from the last commit.
    pub fn compute_last_commit_hash(&self) -> Hash {
        self.last_commit
            .as_ref()
            .map_or_else(|| merkle_root::<&[u8]>(&[]), Commit::hash)
    }
}

/// One validator's entry in a commit, in the order of the validator set.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum CommitSig {
    /// No precommit was received from this validator.
    Absent,
    /// A precommit for the committed block.
    ForBlock {
        /// The vote's timestamp.
        timestamp: Time,
        /// Signature over the precommit.
        signature: Signature,
    },
    /// A precommit for nil.
    ForNil {
        /// The vote's timestamp.
        timestamp: Time,
        /// Signature over the precommit.
        signature: Signature,
    },
}

/// More than 2/3 of the voting power precommitting one block at one round.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Commit {
    /// Height of the committed block.
    pub height: u64,
    /// Round in which it was committed.
    pub round: u32,
    /// The committed block.
    pub block_id: BlockId,
    /// One entry per validator of the set at `height`, in set order.
    pub signatures: Vec<CommitSig>,
}

impl Commit {
    /// Merkle root of the encoded entries (a header's `last_commit_hash`).
    pub fn hash(&self) -> Hash {
        let items: Vec<Vec<u8>> = self.signatures.iter().map(codec::encode).collect();
        merkle_root(&items)
    }
}

/// Merkle root of transaction result codes (a header's `last_results_hash`).
/// Only the codes are hashed: logs are for people and may be reworded.
pub fn results_hash(codes: &[u32]) -> Hash {
    let items: Vec<[u8; 4]> = codes.iter().map(|c| c.to_le_bytes()).collect();
    merkle_root(&items)
}
