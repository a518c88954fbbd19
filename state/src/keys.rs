//! The layout of the Merkle state: every key the application writes.
//!
//! Keys are raw bytes with a short ASCII prefix per record kind; the fixed
//! width of addresses and big-endian heights keeps prefix scans ordered and
//! unambiguous. The Merkle tree hashes keys (SHA-256), so the store keeps a
//! preimage index to answer "which key is this leaf".
//!
//! | key | value |
//! |---|---|
//! | `a/` addr | [`Account`](crate::model::Account) |
//! | `v/` operator | [`ValidatorRecord`](crate::model::ValidatorRecord) |
//! | `c/` consensus addr | operator address (one validator per consensus key, ever) |
//! | `d/` validator operator ‖ delegator | [`Delegation`](crate::model::Delegation) |
//! | `u/` completion height (BE) ‖ seq (BE) | [`UnbondingEntry`](crate::model::UnbondingEntry) |
//! | `U/` validator operator ‖ seq (BE) | completion height (BE), index for slashing |
//! | `p/` owner ‖ key | Put value |
//! | `P/` operator | empty: permitted to create a validator |
//! | `A/` admin | empty: may send admin messages |
//! | `params` | [`ChainParams`](cairn_types::ChainParams) in force |
//! | `active` | `Vec<`[`ActiveMember`](crate::model::ActiveMember)`>`: the latest computed set |
//! | `supply` | [`SupplyLedger`](crate::model::SupplyLedger) |
//! | `useq` | next unbonding sequence number (u64) |

use cairn_types::crypto::Address;

/// Prefix of accounts.
pub const ACCOUNT: &[u8] = b"a/";
/// Prefix of validators.
pub const VALIDATOR: &[u8] = b"v/";
/// Prefix of the consensus address -> operator index.
pub const CONSENSUS: &[u8] = b"c/";
/// Prefix of delegations.
pub const DELEGATION: &[u8] = b"d/";
/// Prefix of the unbonding queue.
pub const UNBONDING: &[u8] = b"u/";
/// Prefix of the per-validator unbonding index.
pub const UNBONDING_BY_VALIDATOR: &[u8] = b"U/";
/// Prefix of Put values.
pub const PUT: &[u8] = b"p/";
/// Prefix of validator permissions.
pub const PERMIT: &[u8] = b"P/";
/// Prefix of admins.
pub const ADMIN: &[u8] = b"A/";
/// The chain parameters.
pub const PARAMS: &[u8] = b"params";
/// The latest computed active set.
pub const ACTIVE: &[u8] = b"active";
/// The supply ledger.
pub const SUPPLY: &[u8] = b"supply";
/// The next unbonding sequence number.
pub const UNBONDING_SEQ: &[u8] = b"useq";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// Key of an account.
pub fn account(addr: &Address) -> Vec<u8> {
    cat(&[ACCOUNT, &addr.0])
}

/// The address whose account `key` is ([`account`]'s inverse).
pub fn account_of(key: &[u8]) -> Option<Address> {
    key.strip_prefix(ACCOUNT)?.try_into().ok().map(Address)
}

/// Key of a validator, by operator.
pub fn validator(operator: &Address) -> Vec<u8> {
    cat(&[VALIDATOR, &operator.0])
}

/// Key of the consensus-address index.
pub fn consensus(cons_addr: &Address) -> Vec<u8> {
    cat(&[CONSENSUS, &cons_addr.0])
}

/// Key of a delegation.
pub fn delegation(validator: &Address, delegator: &Address) -> Vec<u8> {
    cat(&[DELEGATION, &validator.0, &delegator.0])
}

/// Key of an unbonding entry.
pub fn unbonding(completion_height: u64, seq: u64) -> Vec<u8> {
    cat(&[
        UNBONDING,
        &completion_height.to_be_bytes(),
        &seq.to_be_bytes(),
    ])
}

/// Prefix of the unbonding entries completing at `height`.
pub fn unbonding_at(height: u64) -> Vec<u8> {
    cat(&[UNBONDING, &height.to_be_bytes()])
}

/// Key of the per-validator unbonding index.
pub fn unbonding_by_validator(validator: &Address, seq: u64) -> Vec<u8> {
    cat(&[UNBONDING_BY_VALIDATOR, &validator.0, &seq.to_be_bytes()])
}

/// Prefix of one validator's unbonding index.
pub fn unbonding_of_validator(validator: &Address) -> Vec<u8> {
    cat(&[UNBONDING_BY_VALIDATOR, &validator.0])
}

/// Key of a Put value.
pub fn put(owner: &Address, key: &[u8]) -> Vec<u8> {
    cat(&[PUT, &owner.0, key])
}

/// Key of a validator permission.
pub fn permit(operator: &Address) -> Vec<u8> {
    cat(&[PERMIT, &operator.0])
}

/// Key of an admin entry.
pub fn admin(addr: &Address) -> Vec<u8> {
    cat(&[ADMIN, &addr.0])
}

/// Reads a big-endian u64 at `at` in `bytes`.
pub fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// Reads an address at `at` in `bytes`.
pub fn address_at(bytes: &[u8], at: usize) -> Option<Address> {
    let b: [u8; 20] = bytes.get(at..at + 20)?.try_into().ok()?;
    Some(Address(b))
}
