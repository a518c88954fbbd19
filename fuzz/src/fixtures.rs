//! A small fixed chain (four validators with seeded keys) that the checks
//! verify against and the seed generator signs with.

use cairn_types::{
    Block, BlockId, Commit, CommitSig, DuplicateVoteEvidence, Evidence, Hash, Header, Proposal,
    SignedProposal, SignedVote, SigningKey, Time, Validator, ValidatorSet, Version, Vote, VoteKind,
};

/// The chain every fixture is signed for.
pub const CHAIN_ID: &str = "fuzz-chain";

/// Voting power of each fixture validator.
const POWER: u64 = 10;

/// The fixture validators' keys (seeds 1..=4).
pub fn keys() -> Vec<SigningKey> {
    (1..=4u8).map(|i| SigningKey::from_seed([i; 32])).collect()
}

/// The set of the fixture keys, equal powers.
pub fn validator_set() -> ValidatorSet {
    let vals = keys()
        .iter()
        .map(|k| Validator::new(k.public_key(), POWER))
        .collect();
    // Four distinct keys with positive power always make a set.
    ValidatorSet::new(vals).unwrap_or_else(|e| panic!("fixture validator set: {e}"))
}

/// Time of the fixture chain's block 1.
pub const T0: Time = Time(1_700_000_000_000_000_000);

/// A header at `height` proposed by the first fixture validator.
pub fn header(height: u64) -> Header {
    let set = validator_set();
    Header {
        version: Version {
            block: cairn_types::block::BLOCK_VERSION,
            app: cairn_types::block::APP_VERSION,
        },
        chain_id: CHAIN_ID.into(),
        height,
        time: T0.plus_millis(height * 1000),
        last_block_id: (height > 1).then(|| BlockId(Hash::digest(&height.to_le_bytes()))),
        last_commit_hash: Hash::digest(b"last commit"),
        data_hash: Hash::digest(b"data"),
        validators_hash: set.hash(),
        next_validators_hash: set.hash(),
        consensus_hash: Hash::digest(b"params"),
        app_hash: Hash::digest(b"app"),
        last_results_hash: Hash::digest(b"results"),
        evidence_hash: Hash::digest(b"evidence"),
        proposer_address: set.validators()[0].address,
    }
}

/// The fixture key of `address`, if it is one.
pub fn key_of(address: &cairn_types::Address) -> Option<SigningKey> {
    keys()
        .into_iter()
        .find(|k| k.public_key().address() == *address)
}

/// A vote of fixture key `who`, signed.
pub fn vote(who: usize, kind: VoteKind, height: u64, value: Option<BlockId>) -> SignedVote {
    sign_vote(&keys()[who], kind, height, value)
}

fn sign_vote(key: &SigningKey, kind: VoteKind, height: u64, value: Option<BlockId>) -> SignedVote {
    let vote = Vote {
        kind,
        height,
        round: 0,
        value,
        timestamp: T0.plus_millis(height * 1000 + 500),
        validator: key.public_key().address(),
    };
    SignedVote::sign(vote, CHAIN_ID, key)
}

/// A proposal of `block` by fixture validator 0, signed.
pub fn proposal(block: &Block, pol_round: Option<u32>) -> SignedProposal {
    let key = &keys()[0];
    let p = Proposal {
        height: block.header.height,
        round: pol_round.map_or(0, |r| r + 1),
        pol_round,
        block_id: block.id(),
        timestamp: block.header.time,
        proposer: key.public_key().address(),
    };
    SignedProposal::sign(p, CHAIN_ID, key)
}

/// Double-sign evidence of fixture validator 3 at `height`.
pub fn evidence(height: u64) -> Evidence {
    let a = vote(3, VoteKind::Precommit, height, None);
    let b = vote(
        3,
        VoteKind::Precommit,
        height,
        Some(BlockId(Hash::digest(b"other"))),
    );
    let set = validator_set();
    match DuplicateVoteEvidence::new(a, b, POWER, set.total_power(), T0) {
        Ok(ev) => Evidence::DuplicateVote(ev),
        Err(e) => panic!("fixture evidence: {e}"),
    }
}

/// A commit of `block_id` at `height` that verifies under [`validator_set`]:
/// the first three validators (in set order) precommit the block, the last
/// one is absent or precommits nil.
pub fn commit(height: u64, block_id: BlockId, last_nil: bool) -> Commit {
    let set = validator_set();
    let n = set.len();
    let signatures = set
        .validators()
        .iter()
        .enumerate()
        .filter_map(|(i, val)| {
            let key = key_of(&val.address)?;
            let value = (i + 1 < n).then_some(block_id);
            if value.is_none() && !last_nil {
                return Some(CommitSig::Absent);
            }
            let v = sign_vote(&key, VoteKind::Precommit, height, value);
            let (timestamp, signature) = (v.vote.timestamp, v.signature);
            Some(match value {
                Some(_) => CommitSig::ForBlock {
                    timestamp,
                    signature,
                },
                None => CommitSig::ForNil {
                    timestamp,
                    signature,
                },
            })
        })
        .collect();
    Commit {
        height,
        round: 0,
        block_id,
        signatures,
    }
}

/// A block at `height` with `txs`, evidence and a last commit (none at height 1).
pub fn block(height: u64, txs: Vec<Vec<u8>>, with_evidence: bool) -> Block {
    let last_commit = (height > 1).then(|| {
        commit(
            height - 1,
            BlockId(Hash::digest(&height.to_le_bytes())),
            true,
        )
    });
    Block {
        header: header(height),
        txs: txs.into_iter().map(Into::into).collect(),
        evidence: if with_evidence {
            vec![evidence(height.saturating_sub(1).max(1))]
        } else {
            Vec::new()
        },
        last_commit,
    }
}
