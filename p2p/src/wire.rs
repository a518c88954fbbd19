//! Wire messages of gossip and request-response, in the canonical codec.
//!
//! These are wire types (STYLE.md item 8): decoded from untrusted bytes with
//! a byte limit ([`cairn_types::codec::decode`]: limit first, whole input,
//! canonical form), checked for their structural bounds here, and handed to
//! the node, which does the checks that need state (signatures against the
//! validator set, heights, the mempool's checks).

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::codec::{self, CodecError};
use cairn_types::{Block, BlockId, Bytes, Commit, Evidence, SignedProposal, SignedVote};

/// The three gossip topics. Each chain has its own topic names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Transactions, in batches.
    Txs,
    /// Proposals (with their block) and votes.
    Consensus,
    /// DuplicateVote evidence.
    Evidence,
}

impl Topic {
    /// All topics.
    pub const ALL: [Topic; 3] = [Topic::Txs, Topic::Consensus, Topic::Evidence];

    /// Short name, used in metric labels and topic names.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Txs => "txs",
            Topic::Consensus => "consensus",
            Topic::Evidence => "evidence",
        }
    }

    /// The gossipsub topic name on `chain_id`: `/cairn/<chain id>/<topic>/1`.
    pub fn name(self, chain_id: &str) -> String {
        format!("/cairn/{chain_id}/{}/1", self.as_str())
    }
}

/// A consensus message on the consensus topic.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ConsensusMessage {
    /// A signed proposal and the block it proposes (one message: blocks fit
    /// the raised gossip limit, see the crate docs). Boxed to keep the enum
    /// small; the encoding is that of the block itself.
    Proposal(SignedProposal, Box<Block>),
    /// A signed prevote or precommit.
    Vote(SignedVote),
}

/// A batch of signed transactions (their canonical bytes) on the tx topic.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxBatch(pub Vec<Bytes>);

/// A decoded gossip message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GossipMessage {
    /// From the tx topic.
    Txs(TxBatch),
    /// From the consensus topic.
    Consensus(ConsensusMessage),
    /// From the evidence topic.
    Evidence(Evidence),
}

impl GossipMessage {
    /// The topic this message travels on.
    pub fn topic(&self) -> Topic {
        match self {
            GossipMessage::Txs(_) => Topic::Txs,
            GossipMessage::Consensus(_) => Topic::Consensus,
            GossipMessage::Evidence(_) => Topic::Evidence,
        }
    }

    /// The canonical bytes published on the topic.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            GossipMessage::Txs(b) => codec::encode(b),
            GossipMessage::Consensus(m) => codec::encode(m),
            GossipMessage::Evidence(e) => codec::encode(e),
        }
    }

    /// Decodes bytes received on `topic` within `limit` bytes, refusing a
    /// batch with more than `max_batch_txs` txs or a tx above `max_tx_bytes`.
    pub fn decode(
        topic: Topic,
        bytes: &[u8],
        limit: usize,
        max_batch_txs: usize,
        max_tx_bytes: usize,
    ) -> Result<GossipMessage, WireError> {
        Ok(match topic {
            Topic::Txs => {
                let batch: TxBatch = codec::decode(bytes, limit)?;
                if batch.0.is_empty() || batch.0.len() > max_batch_txs {
                    return Err(WireError::BatchSize {
                        len: batch.0.len(),
                        max: max_batch_txs,
                    });
                }
                if let Some(t) = batch.0.iter().find(|t| t.len() > max_tx_bytes) {
                    return Err(WireError::TxTooLarge {
                        size: t.len(),
                        max: max_tx_bytes,
                    });
                }
                GossipMessage::Txs(batch)
            }
            Topic::Consensus => GossipMessage::Consensus(codec::decode(bytes, limit)?),
            Topic::Evidence => GossipMessage::Evidence(codec::decode(bytes, limit)?),
        })
    }
}

/// Why wire bytes were refused before reaching the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not a canonical encoding within the limit.
    #[error("decode: {0}")]
    Codec(#[from] CodecError),
    /// A tx batch that is empty or too long.
    #[error("tx batch of {len} txs (1..={max} allowed)")]
    BatchSize {
        /// Txs in the batch.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A tx larger than `tx_max_bytes`.
    #[error("tx of {size} bytes exceeds {max}")]
    TxTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// Block-sync protocol requests (`/cairn/<chain>/sync/1`).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncRequest {
    /// "What heights do you have?" Answered by p2p itself from the height
    /// the node last set; how peers advertise their height.
    Status,
    /// The blocks `from..=to` with their commits.
    Blocks {
        /// First height.
        from: u64,
        /// Last height (inclusive).
        to: u64,
    },
}

/// Block-sync protocol responses.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncResponse {
    /// The responder's latest and lowest stored heights.
    Status {
        /// Latest committed height.
        height: u64,
        /// Lowest height it still serves (after pruning).
        base: u64,
    },
    /// Consecutive blocks from the requested `from`, each with the commit
    /// that decided it; possibly fewer than asked (size limit, or the
    /// responder does not have them).
    Blocks(Vec<(Block, Commit)>),
    /// The request was refused.
    Refused(Refusal),
}

/// Catch-up protocol requests (`/cairn/<chain>/catchup/1`): what gossip
/// dropped (it never re-sends).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum CatchUpRequest {
    /// All votes the responder holds for a height and round.
    Votes {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
    },
    /// The commit that decided a height.
    Commit {
        /// Height.
        height: u64,
    },
    /// A block by id (e.g. the block of a proposal whose block was lost).
    Block {
        /// The block id.
        id: BlockId,
    },
}

/// Catch-up protocol responses.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum CatchUpResponse {
    /// The votes (at most `max_votes_per_response`).
    Votes(Vec<SignedVote>),
    /// The commit, if the responder has it.
    Commit(Option<Commit>),
    /// The block, if the responder has it (boxed: the encoding is the block's).
    Block(Option<Box<Block>>),
    /// The request was refused.
    Refused(Refusal),
}

impl CatchUpResponse {
    /// Whether the response is of the kind the request asked for.
    pub fn answers(&self, req: &CatchUpRequest) -> bool {
        matches!(
            (req, self),
            (CatchUpRequest::Votes { .. }, CatchUpResponse::Votes(_))
                | (CatchUpRequest::Commit { .. }, CatchUpResponse::Commit(_))
                | (CatchUpRequest::Block { .. }, CatchUpResponse::Block(_))
                | (_, CatchUpResponse::Refused(_))
        )
    }
}

/// Why a request was refused by the responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, thiserror::Error)]
pub enum Refusal {
    /// Too many requests from this peer: retry later.
    #[error("rate limited")]
    RateLimited,
    /// The height range is empty, reversed or longer than the limit.
    #[error("bad range: at most {max} blocks per request, from <= to")]
    BadRange {
        /// Most blocks per request.
        max: u64,
    },
    /// The node did not answer in time.
    #[error("unavailable")]
    Unavailable,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: impl AsRef<[u8]>) -> String {
        b.as_ref().iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn wire_formats_are_pinned() {
        // An accidental change of these encodings splits the network.
        assert_eq!(
            hex(codec::encode(&SyncRequest::Blocks { from: 1, to: 258 })),
            "0101000000000000000201000000000000"
        );
        assert_eq!(hex(codec::encode(&SyncRequest::Status)), "00");
        assert_eq!(
            hex(codec::encode(&CatchUpRequest::Votes {
                height: 3,
                round: 1
            })),
            "00030000000000000001000000"
        );
        assert_eq!(
            hex(codec::encode(&SyncResponse::Refused(Refusal::BadRange {
                max: 100
            }))),
            "02016400000000000000"
        );
        assert_eq!(
            hex(GossipMessage::Txs(TxBatch(vec![Bytes(vec![0xab])])).encode()),
            "0100000001000000ab"
        );
        assert_eq!(Topic::Consensus.name("c-1"), "/cairn/c-1/consensus/1");
    }

    #[test]
    fn gossip_decoding_enforces_batch_bounds() {
        let enc = |txs: Vec<Vec<u8>>| {
            GossipMessage::Txs(TxBatch(txs.into_iter().map(Bytes).collect())).encode()
        };
        let ok = enc(vec![vec![1; 10], vec![2; 10]]);
        assert!(GossipMessage::decode(Topic::Txs, &ok, 1000, 2, 10).is_ok());
        assert!(matches!(
            GossipMessage::decode(Topic::Txs, &ok, 1000, 1, 10),
            Err(WireError::BatchSize { len: 2, max: 1 })
        ));
        assert!(matches!(
            GossipMessage::decode(Topic::Txs, &ok, 1000, 2, 9),
            Err(WireError::TxTooLarge { size: 10, max: 9 })
        ));
        assert!(matches!(
            GossipMessage::decode(Topic::Txs, &enc(vec![]), 1000, 2, 9),
            Err(WireError::BatchSize { len: 0, .. })
        ));
        assert!(matches!(
            GossipMessage::decode(Topic::Txs, &ok, ok.len() - 1, 2, 10),
            Err(WireError::Codec(CodecError::TooLarge { .. }))
        ));
        // Bytes of one topic do not decode as another's.
        assert!(GossipMessage::decode(Topic::Evidence, &ok, 1000, 2, 10).is_err());
    }
}
