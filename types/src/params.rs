//! Chain parameters: set in genesis, changed only by the admins' UpdateParams.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Parameters every node must agree on to validate blocks.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusParams {
    /// Largest encoded block, in bytes.
    pub block_max_bytes: u64,
    /// Largest encoded transaction, in bytes.
    pub tx_max_bytes: u64,
    /// Evidence older than this many blocks (relative to the block that includes it) is refused.
    pub evidence_max_age_blocks: u64,
    /// Evidence older than this (relative to the including block's time) is refused, in milliseconds.
    pub evidence_max_age_ms: u64,
    /// Most evidence bytes one block may carry.
    pub evidence_max_bytes: u64,
}

/// Parameters of the application: fees, staking, slashing, storage caps.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppParams {
    /// Minimum fee per byte of the signed transaction.
    pub min_fee_per_byte: u64,
    /// Blocks between an Undelegate and the return of the funds. Must exceed `evidence_max_age_blocks`.
    pub unbonding_blocks: u64,
    /// Fraction of stake slashed for double signing, in parts per million.
    pub double_sign_slash_ppm: u32,
    /// Size of the active validator set.
    pub max_validators: u32,
    /// Minimum self-delegation for an active validator.
    pub min_self_stake: u64,
    /// Stake per unit of voting power.
    pub power_unit: u64,
    /// Largest Put key, in bytes.
    pub put_max_key_bytes: u32,
    /// Largest Put value, in bytes.
    pub put_max_value_bytes: u32,
}

/// Everything UpdateParams can change.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainParams {
    /// Block validity parameters.
    pub consensus: ConsensusParams,
    /// Application parameters.
    pub app: AppParams,
}

/// Why a parameter set is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// A parameter is out of its allowed range.
    #[error("params.{field}: {reason}")]
    OutOfRange {
        /// The dotted field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Upper bound on a block: keeps gossip and sync messages bounded.
pub const MAX_BLOCK_BYTES: u64 = 16 * 1024 * 1024;
/// One million parts: the denominator of `double_sign_slash_ppm`.
pub const PPM: u32 = 1_000_000;

impl ChainParams {
    /// Checks ranges and cross-parameter rules (the unbonding period outlasts evidence).
    pub fn validate(&self) -> Result<(), ParamsError> {
        let c = &self.consensus;
        let a = &self.app;
        let bad = |field, reason: String| Err(ParamsError::OutOfRange { field, reason });
        if c.block_max_bytes == 0 || c.block_max_bytes > MAX_BLOCK_BYTES {
            return bad(
                "consensus.block_max_bytes",
                format!("must be in 1..={MAX_BLOCK_BYTES}"),
            );
        }
        if c.tx_max_bytes == 0 || c.tx_max_bytes > c.block_max_bytes {
            return bad(
                "consensus.tx_max_bytes",
                "must be in 1..=block_max_bytes".into(),
            );
        }
        if c.evidence_max_age_blocks == 0 || c.evidence_max_age_ms == 0 {
            return bad(
                "consensus.evidence_max_age_blocks",
                "evidence max age (blocks and ms) must be positive".into(),
            );
        }
        if c.evidence_max_bytes >= c.block_max_bytes {
            return bad(
                "consensus.evidence_max_bytes",
                "must be below block_max_bytes".into(),
            );
        }
        if a.unbonding_blocks <= c.evidence_max_age_blocks {
            return bad(
                "app.unbonding_blocks",
                format!(
                    "{} must exceed consensus.evidence_max_age_blocks ({}) so that a validator cannot unbond before its evidence lands",
                    a.unbonding_blocks, c.evidence_max_age_blocks
                ),
            );
        }
        if a.double_sign_slash_ppm > PPM {
            return bad(
                "app.double_sign_slash_ppm",
                format!("must be at most {PPM}"),
            );
        }
        if a.max_validators == 0 {
            return bad("app.max_validators", "must be positive".into());
        }
        if a.power_unit == 0 {
            return bad("app.power_unit", "must be positive".into());
        }
        if a.min_self_stake < a.power_unit {
            return bad(
                "app.min_self_stake",
                "must be at least power_unit (a validator needs power)".into(),
            );
        }
        Ok(())
    }
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            consensus: ConsensusParams {
                // About 6,000 transfers: executed in ~0.6 s here (bench/RESULTS.md),
                // and a NewBlock event of a few MB. 4 MiB blocks (25,000
                // transfers) took seconds per height and ~1 GiB of transient
                // JSON on a node serving websocket subscribers.
                block_max_bytes: 1024 * 1024,
                tx_max_bytes: 64 * 1024,
                evidence_max_age_blocks: 100_000,
                evidence_max_age_ms: 48 * 3600 * 1000,
                evidence_max_bytes: 256 * 1024,
            },
            app: AppParams {
                min_fee_per_byte: 1,
                unbonding_blocks: 200_000,
                double_sign_slash_ppm: 50_000,
                max_validators: 100,
                min_self_stake: 1_000_000,
                power_unit: 1_000_000,
                put_max_key_bytes: 256,
                put_max_value_bytes: 16 * 1024,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ChainParams::default().validate().unwrap();
    }

    #[test]
    fn unbonding_must_outlast_evidence() {
        let mut p = ChainParams::default();
        p.app.unbonding_blocks = p.consensus.evidence_max_age_blocks;
        let e = p.validate().unwrap_err();
        assert!(e.to_string().contains("app.unbonding_blocks"), "{e}");
    }
}
