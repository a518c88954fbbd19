//! Sign bytes: `domain tag ‖ chain id ‖ canonical encoding of the signed fields`.
//!
//! The tag and chain id are borsh strings (length-prefixed), so no two
//! (tag, chain, fields) triples share sign bytes: a signature for one chain or
//! one kind of message is never valid for another.

use borsh::BorshSerialize;

/// The kind of signed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// A transaction body.
    Tx,
    /// A prevote or precommit.
    Vote,
    /// A block proposal.
    Proposal,
}

impl Domain {
    /// The domain tag.
    pub fn tag(self) -> &'static str {
        match self {
            Domain::Tx => "cairn/tx/v1",
            Domain::Vote => "cairn/vote/v1",
            Domain::Proposal => "cairn/proposal/v1",
        }
    }
}

/// The bytes that are signed for `fields` of kind `domain` on chain `chain_id`.
pub fn sign_bytes<T: BorshSerialize + ?Sized>(
    domain: Domain,
    chain_id: &str,
    fields: &T,
) -> Vec<u8> {
    let mut out = crate::codec::encode(domain.tag());
    out.extend_from_slice(&crate::codec::encode(chain_id));
    out.extend_from_slice(&crate::codec::encode(fields));
    out
}
