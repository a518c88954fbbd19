//! Commit verification through a [`SignatureVerifier`].
//!
//! Same rules as [`cairn_types::ValidatorSet::verify_commit`] (one entry per
//! validator, every present signature valid, for-block power more than 2/3),
//! but every signature goes through the core's verifier, so that a caching
//! verifier (the simulator's) is used for commits too.

use cairn_types::validator::{CommitError, is_supermajority};
use cairn_types::{BlockId, Commit, CommitSig, ValidatorSet};

use crate::params::SignatureVerifier;

/// Verifies that `commit` proves `block_id` at `height` under `set`.
pub fn verify_commit(
    verifier: &dyn SignatureVerifier,
    chain_id: &str,
    set: &ValidatorSet,
    height: u64,
    block_id: &BlockId,
    commit: &Commit,
) -> Result<(), CommitError> {
    if commit.height != height {
        return Err(CommitError::WrongHeight {
            expected: height,
            got: commit.height,
        });
    }
    if commit.block_id != *block_id {
        return Err(CommitError::WrongBlock {
            expected: *block_id,
            got: commit.block_id,
        });
    }
    if commit.signatures.len() != set.len() {
        return Err(CommitError::WrongSize {
            expected: set.len(),
            got: commit.signatures.len(),
        });
    }
    let mut signed: u64 = 0;
    for (i, (sig, val)) in commit.signatures.iter().zip(set.validators()).enumerate() {
        if matches!(sig, CommitSig::ForBlock { .. }) {
            signed += val.power;
        }
        let signature = match sig {
            CommitSig::Absent => continue,
            CommitSig::ForBlock { signature, .. } | CommitSig::ForNil { signature, .. } => {
                signature
            }
        };
        let Some(vote) = set.commit_vote(commit, i) else {
            continue;
        };
        if !verifier.verify(&val.pub_key, &vote.sign_bytes(chain_id), signature) {
            return Err(CommitError::BadSignature(val.address));
        }
    }
    let total = set.total_power();
    if !is_supermajority(signed, total) {
        return Err(CommitError::InsufficientPower { signed, total });
    }
    Ok(())
}
